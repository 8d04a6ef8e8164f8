package refunds.merchants.saas_codes_test

import data.refunds.merchants.saas_codes
import data.refunds.testing

base := {
	"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "change_of_mind"},
	"order": {
		"placed_at": "2026-03-01T09:58:00Z",
		"paid_at": "2026-03-01T10:00:00Z",
		"currency": "BRL",
		"lines": [{"id": "l1", "sku": "xbox-gp-3m", "kind": "product", "product_type": "saas_code", "amount": 12990}],
	},
}

decide(patch) := testing.summary(d) if {
	d := saas_codes.decision with input as object.union(base, patch)
}

test_unpaid_order_is_cancelled if {
	decide({"order": {"paid_at": null}}) == testing.no_money("approve", "cancel_order", ["order_not_paid"], [], "BRL")
}

test_undelivered_code_is_sent_again if {
	decide({"claim": {"reason": "not_delivered"}}) == testing.no_money("approve", "redeliver", ["code_resent"], [], "BRL")
}

test_code_that_does_not_work_goes_to_support if {
	every reason in ["not_working", "defective"] {
		decide({"claim": {"reason": reason}}) == testing.no_money("refer", "support", ["support_assistance"], [], "BRL")
	}
}

test_every_other_reason_is_denied_at_any_time if {
	every reason in ["change_of_mind", "bought_by_mistake", "wrong_platform", "wrong_region", "dissatisfied", "other"] {
		decide({"claim": {"reason": reason}}) == testing.no_money("deny", "none", ["saas_code_non_refundable", "resale_allowed"], [], "BRL")
	}
	decide({"claim": {"submitted_at": "2026-03-01T10:00:01Z"}}).outcome == "deny"
}
