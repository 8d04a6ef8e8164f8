package tests

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

var (
	apiOnce   sync.Once
	apiRouter routers.Router
	apiErr    error
)

// ValidateResponse checks a live answer against docs/openapi.yaml: its
// route, its status (it must be documented) and its body.
func ValidateResponse(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	apiOnce.Do(func() {
		var doc *openapi3.T
		if doc, apiErr = openapi3.NewLoader().LoadFromFile(filepath.Join(Dir(), "..", "docs", "openapi.yaml")); apiErr != nil {
			return
		}
		doc.Servers = nil // any host and port: the tests listen on a free one
		apiRouter, apiErr = legacy.NewRouter(doc)
	})
	if apiErr != nil {
		t.Fatalf("docs/openapi.yaml: %v", apiErr)
	}
	route, params, err := apiRouter.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: not in docs/openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s answered %d, which docs/openapi.yaml does not describe: %v\n%.400s", req.Method, req.URL.Path, status, err, body)
	}
}
