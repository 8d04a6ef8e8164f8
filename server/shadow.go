package server

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/refundd/refundd/engine"
	"github.com/refundd/refundd/request"
)

// shadowSlots bounds how many shadow evaluations run at once; a sampled
// decision finding them all busy is skipped (and counted).
const shadowSlots = 2

// shadowTimeout bounds one shadow evaluation.
const shadowTimeout = 5 * time.Second

// shadow decides, for a sample of the compiled evaluator's decisions, the
// same request with topdown, after the answer and apart from it, and
// counts whether the two agree; a disagreement is logged with the decision
// id. The answer never changes.
func (s *Server) shadow(merchant string, req *request.Request, d *engine.Decision) {
	if s.shadowRate <= 0 || d.Evaluator != engine.EvaluatorCompiled || rand.Float64() >= s.shadowRate {
		return
	}
	select {
	case s.shadowSlots <- struct{}{}:
	default:
		s.countShadow(merchant, "skipped")
		return
	}
	answered := shadowDoc(d)
	go func() {
		defer func() { <-s.shadowSlots }()
		ctx, cancel := context.WithTimeout(s.stopping, shadowTimeout)
		defer cancel()
		ref, err := s.decider.Decide(ctx, merchant, req, engine.DecideOptions{Topdown: true})
		if err != nil {
			if ctx.Err() != nil {
				return // shutting down or too slow: no verdict
			}
			s.countShadow(merchant, "disagree")
			s.log.Error("shadow: topdown failed where the compiled evaluator decided", "merchant", merchant, "decision_id", d.DecisionID, "error", err.Error())
			return
		}
		if bytes.Equal(answered, shadowDoc(ref)) {
			s.countShadow(merchant, "agree")
			return
		}
		s.countShadow(merchant, "disagree")
		s.log.Error("shadow: topdown decides otherwise than the compiled evaluator", "merchant", merchant,
			"decision_id", d.DecisionID, "compiled", string(answered), "topdown", string(shadowDoc(ref)))
	}()
}

// shadowDoc is what two evaluators must agree on: the decision document
// without its id.
func shadowDoc(d *engine.Decision) []byte {
	c := *d
	c.DecisionID = ""
	b, _ := json.Marshal(c)
	return b
}

func (s *Server) countShadow(merchant, result string) {
	if s.metrics != nil {
		s.metrics.ShadowChecks.WithLabelValues(merchant, result).Inc()
	}
}
