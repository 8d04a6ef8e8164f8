package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
)

// Faults of the client while it sends its request: never a server error.
var (
	// errClientTimeout: the body did not arrive within the read timeout.
	errClientTimeout = errors.New("the request body was not sent in time")
	// errClientGone: the client hung up; nobody is left to answer.
	errClientGone = errors.New("the client closed the connection")
)

// timeoutAnswerWindow is how long a 408 has to reach its client.
const timeoutAnswerWindow = 2 * time.Second

// readBody reads the request body, at most limit bytes, and tells the
// client's faults apart: a body larger than limit (413), a body shorter than
// its Content-Length (400 on "body"), a body not sent in time (408), a
// client that hung up (no answer).
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
		return body, nil
	case errors.As(err, &maxErr):
		return nil, err
	case errors.As(err, &netErr) && netErr.Timeout():
		// The write deadline of a plain connection runs from the same start
		// as the read deadline and has passed too: without a little more
		// time the 408 would never reach the client.
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(timeoutAnswerWindow))
		c.Header("Connection", "close")
		return nil, errClientTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &request.ValidationError{Problems: []request.FieldError{{Field: "body", Rule: "truncated"}}}
	}
	return nil, fmt.Errorf("%w: %v", errClientGone, err) // the connection broke while reading
}

var (
	errNotFound             = errors.New("not found")
	errMethodNotAllowed     = errors.New("method not allowed")
	errUnsupportedMediaType = errors.New("unsupported media type")
	errPanic                = errors.New("panic")
)

// ErrorBody is the body of every error answer (contract section 1).
type ErrorBody struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Errors  []FieldError `json:"errors,omitempty"`
	// ErrorsOmitted counts the problems past the list's bound.
	ErrorsOmitted int `json:"errors_omitted,omitempty"`
}

// FieldError is one problem with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// fail maps err to its status, code and message: the one place that does.
func (s *Server) fail(c *gin.Context, merchant string, err error) {
	lang := language(c.GetHeader("Accept-Language"))
	status, code := classify(err)
	if status >= http.StatusInternalServerError && c.Request.Context().Err() != nil {
		// The client left while its request was being worked on: whatever
		// failed then (a cancelled evaluation, a log wait cut short) is no
		// server fault.
		status, code, err = statusClientClosed, "client_closed_request", fmt.Errorf("%w: %v", errClientGone, err)
	}
	body := ErrorBody{Code: code, Message: errorMessage(code, lang)}
	var verr *request.ValidationError
	var perr *engine.PolicyError
	var bundleErr *errBadBundle
	switch {
	case errors.As(err, &verr):
		for _, p := range verr.Problems {
			body.Errors = append(body.Errors, FieldError{Field: p.Field, Message: p.Message(lang)})
		}
		body.ErrorsOmitted = verr.Omitted
	case errors.As(err, &bundleErr):
		body.Message += " " + bundleErr.Error()
	case errors.As(err, &perr):
		body.Message += " " + perr.Err.Error()
		s.log.Error("policy error", "merchant", merchant, "error", perr.Err.Error())
	case status >= http.StatusInternalServerError:
		s.log.Error("request failed", "merchant", merchant, "code", code, "error", err.Error())
	case status == http.StatusRequestTimeout || status == statusClientClosed:
		s.log.Info("client fault", "merchant", merchant, "code", code, "error", err.Error())
	}
	if s.metrics != nil && isDecisionRoute(c.FullPath()) {
		label := merchant
		if label == "" || !s.decider.Known(label) {
			label = "unknown" // never a client-chosen label value
		}
		s.metrics.DecisionErrors.WithLabelValues(label, code).Inc()
	}
	if status == statusClientClosed {
		c.AbortWithStatus(status) // nobody is left to read a body
		return
	}
	c.AbortWithStatusJSON(status, body)
}

// statusClientClosed records a request whose client hung up before it was
// answered (as nginx's 499); it is never sent.
const statusClientClosed = 499

func classify(err error) (int, string) {
	var verr *request.ValidationError
	var perr *engine.PolicyError
	var maxErr *http.MaxBytesError
	var logErr *errLogUnavailable
	var bundleErr *errBadBundle
	switch {
	case errors.Is(err, errClientGone):
		return statusClientClosed, "client_closed_request"
	case errors.Is(err, errUnauthenticated):
		return http.StatusUnauthorized, "unauthenticated"
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, errBusy):
		return http.StatusTooManyRequests, "too_many_requests"
	case errors.Is(err, errClientTimeout):
		return http.StatusRequestTimeout, "request_timeout"
	case errors.Is(err, engine.ErrEvaluationAborted):
		return http.StatusServiceUnavailable, "evaluation_timeout"
	case errors.As(err, &logErr):
		return http.StatusServiceUnavailable, "decision_log_unavailable"
	case errors.Is(err, errNoDecisionLog):
		return http.StatusNotFound, "decision_log_off"
	case errors.Is(err, decisionlog.ErrNotFound):
		return http.StatusNotFound, "unknown_decision"
	case errors.As(err, &bundleErr):
		return http.StatusBadRequest, "invalid_bundle"
	case errors.As(err, &verr):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, engine.ErrUnknownMerchant):
		return http.StatusNotFound, "unknown_merchant"
	case errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge, "request_too_large"
	case errors.Is(err, errUnsupportedMediaType):
		return http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.As(err, &perr):
		return http.StatusInternalServerError, "policy_error"
	case errors.Is(err, errNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	}
	return http.StatusInternalServerError, "internal_error"
}

// decisionRoutes are the routes whose failures count as decision errors.
var decisionRoutes = map[string]bool{
	"/v1/merchants/:merchant/decisions":             true,
	"/v1/data/refunds/merchants/:merchant/decision": true,
}

func isDecisionRoute(path string) bool { return decisionRoutes[path] }

var errorMessages = map[string][2]string{
	"invalid_request":          {"The request is invalid; see errors for each field.", "La requête est invalide ; voir errors pour chaque champ."},
	"unknown_merchant":         {"No policy is loaded for this merchant.", "Aucune politique n'est chargée pour ce marchand."},
	"request_too_large":        {"The request body is too large.", "Le corps de la requête est trop volumineux."},
	"unsupported_media_type":   {"The request body must be JSON (Content-Type: application/json).", "Le corps de la requête doit être du JSON (Content-Type: application/json)."},
	"decision_log_unavailable": {"The decision could not be recorded, so it is not given; try again.", "La décision n'a pas pu être enregistrée, elle n'est donc pas rendue ; réessayez."},
	"decision_log_off":         {"The decision log is off on this server.", "Le journal des décisions est désactivé sur ce serveur."},
	"unknown_decision":         {"No decision with this id is in the log.", "Aucune décision avec cet identifiant dans le journal."},
	"invalid_bundle":           {"The candidate bundle cannot be used; see message.", "Le bundle candidat est inutilisable ; voir le message."},
	"policy_error":             {"The merchant's policy failed; no decision was made.", "La politique du marchand a échoué ; aucune décision n'a été prise."},
	"not_found":                {"No such endpoint.", "Ce point d'accès n'existe pas."},
	"method_not_allowed":       {"This method is not allowed on this endpoint.", "Cette méthode n'est pas autorisée sur ce point d'accès."},
	"internal_error":           {"Internal error.", "Erreur interne."},
	"unauthenticated":          {"A valid bearer token is required (Authorization: Bearer <token>).", "Un jeton porteur valide est requis (Authorization: Bearer <jeton>)."},
	"forbidden":                {"The token does not allow this.", "Le jeton ne permet pas cette action."},
	"too_many_requests":        {"This resource is busy; try again after Retry-After seconds.", "Cette ressource est occupée ; réessayez après Retry-After secondes."},
	"request_timeout":          {"The request body was not sent in time.", "Le corps de la requête n'a pas été envoyé à temps."},
	"evaluation_timeout":       {"The decision took longer than its bound and was stopped; no decision was made.", "La décision a dépassé sa limite de temps et a été arrêtée ; aucune décision n'a été prise."},
	"client_closed_request":    {"The client closed the connection.", "Le client a fermé la connexion."},
}

func errorMessage(code, lang string) string {
	m := errorMessages[code]
	if lang == "fr" {
		return m[1]
	}
	return m[0]
}
