package authgin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
)

// openapiValidator is built once from docs/openapi.yaml; it is safe for
// concurrent use.
var openapiValidator = sync.OnceValues(func() (validator.Validator, error) {
	doc, err := libopenapi.NewDocument(openapiYAML)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc, config.WithoutSecurityValidation())
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi: %v", errs)
	}
	return v, nil
})

// validateOpenAPI wraps h, the test app, so that every exchange with the
// plugin's routes is checked against docs/openapi.yaml: each response must
// match the document for its status, and a request the plugin accepted
// (2xx) must match the document too. Requests answered with an error may
// break it: tests send malformed input on purpose.
func validateOpenAPI(t *testing.T, h http.Handler) http.Handler {
	v, err := openapiValidator()
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, testBase) {
			h.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		resp := rec.Result()
		// gin's own answer for a path or method it has no route for.
		noRoute := resp.StatusCode == http.StatusNotFound && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
		check := r.Clone(r.Context())
		check.Body = io.NopCloser(bytes.NewReader(body))
		var problems []string
		if resp.StatusCode < 300 {
			if ok, errs := v.ValidateHttpRequestSync(check); !ok {
				for _, e := range errs {
					problems = append(problems, "request: "+e.Message+": "+e.Reason)
				}
			}
			check.Body = io.NopCloser(bytes.NewReader(body))
		}
		if ok, errs := v.ValidateHttpResponse(check, resp); !ok && !noRoute {
			for _, e := range errs {
				problems = append(problems, fmt.Sprintf("response %d: %s: %s", resp.StatusCode, e.Message, e.Reason))
			}
		}
		if len(problems) > 0 {
			t.Errorf("%s %s does not match docs/openapi.yaml:\n  %s\n  body sent %q\n  body got %q",
				r.Method, r.URL.Path, strings.Join(problems, "\n  "), body, rec.Body.Bytes())
		}
		maps := w.Header()
		for k, vs := range rec.Header() {
			maps[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// TestOpenAPIDocument: the document is valid OpenAPI 3.1, and it names
// every route Register mounts and nothing else.
func TestOpenAPIDocument(t *testing.T) {
	v, err := openapiValidator()
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
		}
	}
	doc, err := libopenapi.NewDocument(openapiYAML)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	r := gin.New()
	auth, err := Register(r.Group("/api/users"), Options{DB: openTestDB(t, "sqlite"), Secret: testSecret,
		BaseURL: "https://app.example", PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close(context.Background()) })
	var mounted []string
	for _, rt := range r.Routes() {
		path := strings.TrimPrefix(rt.Path, "/api")
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		mounted = append(mounted, rt.Method+" "+path)
	}
	// gin names a path parameter once per position; the document names
	// it for what it is.
	normal := func(s string) string {
		return strings.NewReplacer("{sid}", "{id}", "{token}", "{id}").Replace(s)
	}
	for _, m := range mounted {
		if !slices.ContainsFunc(documented, func(d string) bool { return normal(d) == normal(m) }) {
			t.Errorf("route %s is not in docs/openapi.yaml", m)
		}
	}
	for _, d := range documented {
		if !slices.ContainsFunc(mounted, func(m string) bool { return normal(d) == normal(m) }) {
			t.Errorf("docs/openapi.yaml documents %s, which Register does not mount", d)
		}
	}
}
