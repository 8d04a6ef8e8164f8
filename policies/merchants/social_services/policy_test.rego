package refunds.merchants.social_services_test

import data.refunds.merchants.social_services
import data.refunds.testing

base := {
	"claim": {"submitted_at": "2026-03-05T10:00:00Z", "reason": "not_delivered"},
	"order": {
		"placed_at": "2026-03-01T09:58:00Z",
		"paid_at": "2026-03-01T10:00:00Z",
		"currency": "EUR",
		"lines": [
			{"id": "l1", "sku": "ig-followers-1k", "kind": "product", "product_type": "digital_service", "amount": 2500},
			{"id": "l2", "sku": "tiktok-likes-500", "kind": "product", "product_type": "digital_service", "amount": 900},
		],
	},
}

decide(patch) := testing.summary(d) if {
	d := social_services.decision with input as object.union(base, patch)
}

refunded(amount, reason) := {
	"outcome": "approve",
	"remedy": "refund",
	"refund": {"amount": amount, "currency": "EUR", "withheld": []},
	"reasons": [reason],
	"obligations": [],
}

eur(outcome, remedy, reason) := testing.no_money(outcome, remedy, [reason], [], "EUR")

test_unpaid_order_is_cancelled if {
	decide({"order": {"paid_at": null}}) == eur("approve", "cancel_order", "order_not_paid")
}

test_non_delivery_within_seven_days_of_the_order if {
	decide({"claim": {"submitted_at": "2026-03-08T09:58:00Z"}}) == refunded(3400, "non_delivery_claim_in_time")
	decide({"claim": {"submitted_at": "2026-03-08T09:58:01Z"}}) == eur("deny", "none", "claim_window_expired")
}

test_non_delivery_of_a_delivered_order_is_disputed if {
	decide({"order": {"delivered_at": "2026-03-02T00:00:00Z"}}) == eur("refer", "none", "delivery_disputed")
}

test_not_as_described_needs_evidence if {
	decide({"claim": {"reason": "not_as_described", "evidence": ["screenshot"], "line_ids": ["l2"]}}) == refunded(900, "not_as_described_with_evidence")
	decide({"claim": {"reason": "not_as_described", "evidence": []}}) == eur("deny", "none", "evidence_required")
	decide({"claim": {"reason": "not_as_described"}}) == eur("deny", "none", "evidence_required")
}

test_not_as_described_within_seven_days_of_payment if {
	decide({"claim": {"reason": "not_as_described", "evidence": ["x"], "submitted_at": "2026-03-08T10:00:00Z"}}).outcome == "approve"
	decide({"claim": {"reason": "not_as_described", "evidence": ["x"], "submitted_at": "2026-03-08T10:00:01Z"}}) == eur("deny", "none", "claim_window_expired")
}

subscription := {"billing": "monthly", "last_payment_at": "2026-04-01T10:00:00Z"}

test_recurring_payment_cancelled_within_seven_days_is_refunded if {
	decide({"claim": {"reason": "cancel_subscription", "submitted_at": "2026-04-08T10:00:00Z"}, "subscription": subscription}) == refunded(3400, "recurring_cancel_in_time")
}

test_recurring_payment_cancelled_later_stops_future_billing if {
	decide({"claim": {"reason": "cancel_subscription", "submitted_at": "2026-04-08T10:00:01Z"}, "subscription": subscription}) == eur("partial", "cancel_renewal", "recurring_refund_window_expired")
}

test_recurring_payment_defaults_to_the_order_payment if {
	decide({"claim": {"reason": "cancel_subscription", "submitted_at": "2026-03-08T10:00:00Z"}}).outcome == "approve"
}

test_dissatisfaction_within_seven_days_is_reviewed if {
	decide({"claim": {"reason": "dissatisfied", "submitted_at": "2026-03-08T10:00:00Z"}}) == eur("refer", "support", "satisfaction_review")
	decide({"claim": {"reason": "dissatisfied", "submitted_at": "2026-03-08T10:00:01Z"}}) == eur("deny", "none", "claim_window_expired")
}

test_other_reasons_are_irrevocable if {
	every reason in ["change_of_mind", "defective", "other"] {
		decide({"claim": {"reason": reason}}) == eur("deny", "none", "intangible_goods_irrevocable")
	}
}
