package server

import (
	"errors"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/refundd/refundd/auth"
)

// Authenticator checks a bearer token; auth.File is one.
type Authenticator interface {
	Authenticate(token string) (*auth.Principal, bool)
}

var _ Authenticator = (*auth.File)(nil)

var (
	errUnauthenticated = errors.New("missing or unknown bearer token")
	errForbidden       = errors.New("the token lacks the scope this needs")
)

const principalKey = "principal"

// openRoutes need no token: probes must work without one.
// The explorer's files hold no data: what it shows comes from the API,
// under the reader's token.
var openRoutes = map[string]bool{"/health": true, "/ready": true, "/ui/*file": true}

// authenticate admits a request with a known bearer token, or to an open
// route; every other request gets 401 before any other work is done.
//
// Authorization is plain Go over the token's scopes rather than a Rego
// policy evaluated by the engine: a scope check is a map lookup (tens of
// nanoseconds against tens of microseconds for a query), it cannot fail to
// compile, and it keeps who may call refundd apart from the merchants'
// policies, which their authors change every day.
func (s *Server) authenticate(c *gin.Context) {
	if s.auth == nil || openRoutes[c.FullPath()] {
		c.Next()
		return
	}
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="refundd"`)
		s.fail(c, c.Param("merchant"), errUnauthenticated)
		return
	}
	p, ok := s.auth.Authenticate(token)
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="refundd", error="invalid_token"`)
		s.fail(c, c.Param("merchant"), errUnauthenticated)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

// allowed tells whether the caller may act as kind on merchant.
func (s *Server) allowed(c *gin.Context, kind, merchant string) bool {
	if s.auth == nil {
		return true
	}
	p, ok := c.Get(principalKey)
	return ok && p.(*auth.Principal).Allows(kind, merchant)
}

// readable lists the merchants whose records the caller may read; all is
// true when it may read every merchant's.
func (s *Server) readable(c *gin.Context) (ids []string, all bool) {
	if s.auth == nil {
		return nil, true
	}
	p, ok := c.Get(principalKey)
	if !ok {
		return nil, false
	}
	return p.(*auth.Principal).Merchants(auth.Read)
}

// require answers 403 unless the caller has kind's scope for the route's
// merchant (or kind's scope at all, on routes without a merchant).
func (s *Server) require(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.allowed(c, kind, c.Param("merchant")) {
			s.fail(c, c.Param("merchant"), errForbidden)
			return
		}
		c.Next()
	}
}
