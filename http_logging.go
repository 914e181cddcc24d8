package authgin

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// RedactedPath is what RedactingLogFormatter writes instead of a one-time
// token.
const RedactedPath = "[redacted]"

// RedactingLogFormatter returns a gin.LogFormatter that writes next's line
// (gin's usual format when next is nil) with the one-time token cut out of
// paths such as /api/users/confirm/{token} and /api/users/password/{token}
// (any path segment that follows a "confirm" or "password" segment), and
// the code and state of a social login's callback query. Install
// it before mounting the plugin (gin applies middleware only to routes
// registered after it):
//
//	r := gin.New()
//	r.Use(gin.LoggerWithFormatter(authgin.RedactingLogFormatter(nil)), gin.Recovery())
//	auth, err := authgin.Register(r.Group("/api/users"), opts)
//
// gin.Default's logger prints such paths whole; better still, have clients
// send tokens in the body (POST /confirm {"token"}, POST /password
// {"token", ...}).
func RedactingLogFormatter(next gin.LogFormatter) gin.LogFormatter {
	if next == nil {
		next = plainLogFormat
	}
	return func(p gin.LogFormatterParams) string {
		p.Path = redactTokenPath(p.Path)
		return next(p)
	}
}

// redactTokenPath replaces the segment after "confirm" or "password", and
// the code and state of a social login's callback.
func redactTokenPath(path string) string {
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i:]
	}
	if strings.HasSuffix(path, "/callback") && strings.Contains(path, "/oauth/") {
		query = redactQuery(query, "code", "state")
	}
	if !strings.Contains(path, "/confirm/") && !strings.Contains(path, "/password/") {
		return path + query
	}
	segs := strings.Split(path, "/")
	for i := 1; i < len(segs); i++ {
		if (segs[i-1] == "confirm" || segs[i-1] == "password") && segs[i] != "" {
			segs[i] = RedactedPath
		}
	}
	return strings.Join(segs, "/") + query
}

// redactQuery replaces the values of names in query ("?a=1&b=2").
func redactQuery(query string, names ...string) string {
	if query == "" {
		return ""
	}
	parts := strings.Split(query[1:], "&")
	for i, kv := range parts {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(names, k) {
			parts[i] = k + "=" + RedactedPath
		}
	}
	return "?" + strings.Join(parts, "&")
}

// plainLogFormat is gin's default log line without colours.
func plainLogFormat(p gin.LogFormatterParams) string {
	if p.Latency > time.Minute {
		p.Latency = p.Latency.Truncate(10 * time.Second)
	}
	return fmt.Sprintf("[GIN] %v | %3d | %13v | %15s | %-7s %#v\n%s",
		p.TimeStamp.Format("2006/01/02 - 15:04:05"), p.StatusCode, p.Latency, p.ClientIP, p.Method, p.Path, p.ErrorMessage)
}
