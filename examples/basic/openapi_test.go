package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authgin/authgin"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
)

// openapiTransport checks every exchange with the plugin's routes against
// authgin.OpenAPI(): each response must match the document for its status,
// and a request the plugin accepted (2xx) must match it too.
type openapiTransport struct {
	t *testing.T
	v validator.Validator
}

func newOpenAPITransport(t *testing.T) *openapiTransport {
	t.Helper()
	doc, err := libopenapi.NewDocument(authgin.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc, config.WithoutSecurityValidation())
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return &openapiTransport{t: t, v: v}
}

func (o *openapiTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.Path, "/api/users") {
		return resp, err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	check := r.Clone(r.Context())
	// The document's server is /api on any host.
	check.URL.Host, check.Host = "", ""
	var problems []string
	if resp.StatusCode < 300 {
		check.Body = io.NopCloser(bytes.NewReader(body))
		if ok, errs := o.v.ValidateHttpRequestSync(check); !ok {
			for _, e := range errs {
				problems = append(problems, "request: "+e.Message+": "+e.Reason)
			}
		}
	}
	check.Body = io.NopCloser(bytes.NewReader(body))
	checked := *resp
	checked.Body = io.NopCloser(bytes.NewReader(raw))
	if ok, errs := o.v.ValidateHttpResponse(check, &checked); !ok {
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("response %d: %s: %s", resp.StatusCode, e.Message, e.Reason))
		}
	}
	if len(problems) > 0 {
		o.t.Errorf("%s %s does not match the OpenAPI document:\n  %s", r.Method, r.URL.Path, strings.Join(problems, "\n  "))
	}
	return resp, nil
}
