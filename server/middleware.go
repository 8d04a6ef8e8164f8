package server

import (
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

const decisionIDKey = "decision_id"

// observe logs every request and records its latency under its route
// template.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route, method := c.FullPath(), c.Request.Method
	if route == "" {
		route = "other"
	}
	if !knownMethods[method] {
		method = "other"
	}
	status := c.Writer.Status()
	if s.metrics != nil {
		// Labels take known values only: an unmatched path or a made-up
		// method adds no series.
		s.metrics.ObserveHTTP(status, route, method, elapsed.Seconds())
	}
	attrs := []any{"method", method, "route", route, "status", status, "duration", elapsed.String()}
	if id, ok := c.Get(decisionIDKey); ok {
		attrs = append(attrs, "decision_id", id)
	}
	s.log.Info("request", attrs...)
}

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// recover turns a panic into a 500 with the error body, and logs it.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("panic", "panic", r, "stack", string(debug.Stack()))
			s.fail(c, "", errPanic)
		}
	}()
	c.Next()
}

// language picks "fr" or "en" from an Accept-Language header: the supported
// language with the highest weight, English when none is named.
func language(header string) string {
	best, bestQ := "en", -1.0
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		tag := strings.ToLower(strings.TrimSpace(fields[0]))
		q := 1.0
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(f), "q="); ok {
				if parsed, err := strconv.ParseFloat(v, 64); err == nil {
					q = parsed
				}
			}
		}
		base, _, _ := strings.Cut(tag, "-")
		if (base == "fr" || base == "en") && q > 0 && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}
