package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/refundd/refundd/auth"
	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/replay"
	"github.com/refundd/refundd/request"
)

// DecisionLog records decisions (decisionlog.Logger). Begin says a
// decision is being computed, so that a group commit waits for it;
// LogComputed records it, calls computed once the record is queued, and
// in durable mode returns once the record is committed.
type DecisionLog interface {
	Begin() (computed func())
	LogComputed(ctx context.Context, rec decisionlog.Record, computed func()) error
}

// Records reads the decision log.
type Records interface {
	Get(ctx context.Context, id string) (decisionlog.Record, error)
	List(ctx context.Context, q decisionlog.Query) ([]decisionlog.Record, string, error)
	replay.Source
}

// Impact compiles a candidate bundle for a merchant and replays the logged
// decisions against it.
type Impact func(ctx context.Context, merchant string, bundle []byte, opts replay.Options) (*replay.Report, error)

// errLogUnavailable wraps a failure to commit a decision's record: in
// durable mode the decision is then not answered.
type errLogUnavailable struct{ err error }

func (e *errLogUnavailable) Error() string { return "decision log: " + e.err.Error() }
func (e *errLogUnavailable) Unwrap() error { return e.err }

// errBadBundle is a candidate bundle that cannot be used.
type errBadBundle struct{ err error }

func (e *errBadBundle) Error() string { return e.err.Error() }

// BadBundle marks err as the fault of an uploaded candidate bundle: 400
// invalid_bundle rather than a server error.
func BadBundle(err error) error { return &errBadBundle{err} }

func (s *Server) getDecision(c *gin.Context) {
	if s.records == nil {
		s.fail(c, "", errNoDecisionLog)
		return
	}
	if ids, all := s.readable(c); !all && len(ids) == 0 {
		s.fail(c, "", errForbidden)
		return
	}
	var problems []request.FieldError
	values := c.Request.URL.Query()
	checkParams(values, []string{"lang"}, &problems)
	lang := values.Get("lang")
	if lang != "" && lang != "en" && lang != "fr" {
		problems = append(problems, request.FieldError{Field: "lang", Rule: "enum", Args: []string{"en", "fr"}})
	}
	if len(problems) > 0 {
		s.fail(c, "", &request.ValidationError{Problems: problems})
		return
	}
	rec, err := s.records.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, "", err)
		return
	}
	if !s.allowed(c, auth.Read, rec.Merchant) {
		// Another merchant's decision answers as a missing one: a token
		// never learns which ids exist beyond its merchants.
		s.fail(c, "", decisionlog.ErrNotFound)
		return
	}
	if lang != "" && s.decider.Known(rec.Merchant) {
		// The texts of the merchant's live catalog; a merchant no longer
		// served keeps the texts as logged.
		doc, err := s.decider.Localize(rec.Merchant, rec.Decision, lang)
		if err != nil {
			s.fail(c, "", err)
			return
		}
		rec.Decision = doc
	}
	c.JSON(http.StatusOK, rec)
}

const maxListLimit = 1000

// maxListBytes bounds a page of GET /v1/decisions: records are added while
// their requests and decisions fit (at least one always does), and the
// next cursor continues after the last.
const maxListBytes = 4 << 20

func (s *Server) listDecisions(c *gin.Context) {
	if s.records == nil {
		s.fail(c, "", errNoDecisionLog)
		return
	}
	q, err := ParseListQuery(c.Request.URL.RawQuery)
	if err != nil {
		s.fail(c, "", err)
		return
	}
	// Only the merchants the token may read are listed.
	ids, all := s.readable(c)
	switch {
	case q.Merchant != "" && !s.allowed(c, auth.Read, q.Merchant), !all && len(ids) == 0:
		s.fail(c, "", errForbidden)
		return
	case !all && q.Merchant == "":
		q.Merchants = ids
	}
	q.MaxBytes = maxListBytes
	recs, next, err := s.records.List(c.Request.Context(), q)
	if err != nil {
		s.fail(c, "", err)
		return
	}
	if recs == nil {
		recs = []decisionlog.Record{}
	}
	c.JSON(http.StatusOK, gin.H{"decisions": recs, "next_cursor": next})
}

// listParams are the query parameters of GET /v1/decisions.
var listParams = []string{"merchant", "outcome", "since", "until", "limit", "cursor"}

// ParseListQuery reads the query of GET /v1/decisions: every problem is a
// field error naming the parameter, unknown and repeated parameters too.
func ParseListQuery(raw string) (decisionlog.Query, error) {
	q := decisionlog.Query{Limit: 100}
	var problems []request.FieldError
	values, err := url.ParseQuery(raw)
	if err != nil {
		problems = append(problems, request.FieldError{Field: "query", Rule: "query"})
	}
	checkParams(values, listParams, &problems)
	q.Merchant, q.Outcome, q.Cursor = values.Get("merchant"), values.Get("outcome"), values.Get("cursor")
	q.Since = queryTime(values, "since", &problems)
	q.Until = queryTime(values, "until", &problems)
	if v := values.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			problems = append(problems, request.FieldError{Field: "limit", Rule: "range", Args: []string{"1", strconv.Itoa(maxListLimit)}})
		}
		q.Limit = n
	}
	if q.Outcome != "" && !slices.Contains(engine.Outcomes, q.Outcome) {
		problems = append(problems, request.FieldError{Field: "outcome", Rule: "enum", Args: engine.Outcomes})
	}
	for _, name := range []string{"merchant", "cursor"} {
		if v := values.Get(name); len(v) > 256 || !utf8.ValidString(v) {
			problems = append(problems, request.FieldError{Field: name, Rule: "query"})
		}
	}
	if len(problems) > 0 {
		return decisionlog.Query{}, &request.ValidationError{Problems: problems}
	}
	return q, nil
}

func (s *Server) impact(c *gin.Context) {
	merchant := c.Param("merchant")
	if s.impactFn == nil || s.records == nil {
		s.fail(c, merchant, errNoDecisionLog)
		return
	}
	if !s.decider.Known(merchant) {
		s.fail(c, "", engine.ErrUnknownMerchant)
		return
	}
	var problems []request.FieldError
	values := c.Request.URL.Query()
	checkParams(values, []string{"since", "until", "sample"}, &problems)
	opts := replay.Options{Merchant: merchant, Since: queryTime(values, "since", &problems), Until: queryTime(values, "until", &problems)}
	if v := values.Get("sample"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problems = append(problems, request.FieldError{Field: "sample", Rule: "range", Args: []string{"1", "1000"}})
		}
		opts.Sample = n
	}
	if len(problems) > 0 {
		s.fail(c, merchant, &request.ValidationError{Problems: problems})
		return
	}
	switch ct := c.ContentType(); ct {
	case "", "application/gzip", "application/x-gzip", "application/octet-stream":
	default:
		s.fail(c, merchant, errUnsupportedMediaType)
		return
	}
	select {
	case s.impactSlots <- struct{}{}:
		defer func() { <-s.impactSlots }()
	default:
		c.Header("Retry-After", strconv.Itoa(int(s.impactTimeout.Seconds()/4)+1))
		s.fail(c, merchant, errBusy)
		return
	}
	raw, err := readBody(c, s.maxBundle)
	if err != nil {
		s.fail(c, merchant, err)
		return
	}
	// The run's time limit covers compilation and replay; both stop as
	// soon as it passes or the client leaves.
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.impactTimeout)
	defer cancel()
	defer context.AfterFunc(s.stopping, cancel)() // shutdown stops the run too
	rep, err := s.impactFn(ctx, merchant, raw, opts)
	if err != nil {
		switch {
		case c.Request.Context().Err() != nil: // the client left: fail says so
		case s.stopping.Err() != nil:
			c.Header("Retry-After", "5")
			err = fmt.Errorf("%w: the server is shutting down", errBusy)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = BadBundle(fmt.Errorf("the candidate did not finish within the time limit of %s", s.impactTimeout))
		}
		s.fail(c, merchant, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}

// errBusy: a bounded resource is taken; try again later (429).
var errBusy = errors.New("too many requests")

// checkParams reports the query parameters that are not allowed, or
// given more than once: a typo never goes silently ignored.
func checkParams(values url.Values, allowed []string, problems *[]request.FieldError) {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		switch {
		case name == "":
			*problems = append(*problems, request.FieldError{Field: "query", Rule: "query"})
		case !slices.Contains(allowed, name):
			*problems = append(*problems, request.FieldError{Field: name, Rule: "unknown_field"})
		case len(values[name]) > 1:
			*problems = append(*problems, request.FieldError{Field: name, Rule: "duplicate_key"})
		}
	}
}

func queryTime(values url.Values, name string, problems *[]request.FieldError) time.Time {
	v := values.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, _, rule := request.ParseTime(v)
	if rule != "" {
		*problems = append(*problems, request.FieldError{Field: name, Rule: rule})
	}
	return t
}

var errNoDecisionLog = errors.New("the decision log is off")
