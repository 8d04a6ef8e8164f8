package server

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
)

// uiFiles is the decision explorer: a static page and its script, embedded
// so that it works offline, from the binary alone.
//
//go:embed ui
var uiFiles embed.FS

// uiSecurityHeaders keep the page to its own files: no inline script, no
// other origin, never framed.
var uiSecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
}

// routeUI serves the explorer under /ui/. Its files hold no data and need
// no token; everything it shows comes from the API, under the token the
// reader gives it.
func (s *Server) routeUI(r *gin.Engine) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix("/ui", http.FileServer(http.FS(sub)))
	r.GET("/ui/*file", func(c *gin.Context) {
		for k, v := range uiSecurityHeaders {
			c.Header(k, v)
		}
		files.ServeHTTP(c.Writer, c.Request)
	})
}

// try decides a claim under the merchant's live policy without recording
// it, with the rules that fired: the explorer's "try a claim" form. The
// answer is not a decision of record and is never counted as one; a caller
// that may read a merchant's decisions may try claims against its policy.
func (s *Server) try(c *gin.Context) {
	merchant := c.Param("merchant")
	if !s.decider.Known(merchant) {
		s.fail(c, "", engine.ErrUnknownMerchant)
		return
	}
	var problems []request.FieldError
	checkParams(c.Request.URL.Query(), nil, &problems)
	if len(problems) > 0 {
		s.fail(c, merchant, &request.ValidationError{Problems: problems})
		return
	}
	req, err := s.decodeBody(c, false)
	if err != nil {
		s.fail(c, merchant, err)
		return
	}
	d, err := s.evaluate(c, merchant, req, engine.DecideOptions{Lang: language(c.GetHeader("Accept-Language")), Explain: true})
	if err != nil {
		s.fail(c, merchant, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"trial": true, "decision": d})
}
