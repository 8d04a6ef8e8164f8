package refunds.merchants.aomei_test

import data.refunds.merchants.aomei
import data.refunds.testing

base := {
	"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "dissatisfied"},
	"order": {
		"placed_at": "2026-03-01T09:58:00Z",
		"paid_at": "2026-03-01T10:00:00Z",
		"currency": "USD",
		"lines": [
			{"id": "l1", "sku": "backupper-pro", "kind": "product", "product_type": "software_license", "amount": 4995},
			{"id": "l2", "sku": "sales-tax", "kind": "tax", "amount": 400},
			{"id": "l3", "sku": "backup-cd", "kind": "shipping", "amount": 1000},
		],
	},
}

decide(patch) := testing.summary(d) if {
	d := aomei.decision with input as object.union(base, patch)
}

money(remedy, amount, reason) := {
	"outcome": "approve",
	"remedy": remedy,
	"refund": {"amount": amount, "currency": "USD", "withheld": []},
	"reasons": [reason],
	"obligations": [],
}

test_unpaid_order_is_cancelled if {
	decide({"order": {"paid_at": null}, "claim": {"reason": "lost_license"}}) == testing.no_money("approve", "cancel_order", ["order_not_paid"], [], "USD")
}

test_lost_license_is_sent_again_at_any_time if {
	decide({"claim": {"reason": "lost_license", "submitted_at": "2031-01-01T00:00:00Z"}}) == testing.no_money("approve", "redeliver", ["license_resent"], [], "USD")
}

test_any_reason_within_ninety_days_is_refunded_tax_included if {
	every reason in ["dissatisfied", "change_of_mind", "other"] {
		decide({"claim": {"reason": reason}}) == money("refund", 6395, "money_back_guarantee")
	}
}

test_ninety_days_inclusive if {
	decide({"claim": {"submitted_at": "2026-05-30T10:00:00Z"}}) == money("refund", 6395, "money_back_guarantee")
	decide({"claim": {"submitted_at": "2026-05-30T10:00:01Z"}}) == testing.no_money("deny", "none", ["guarantee_expired"], [], "USD")
}

test_wrong_product_is_exchanged_and_refunded if {
	decide({"claim": {"reason": "wrong_product", "line_ids": ["l1", "l2"]}}) == money("exchange", 5395, "wrong_product_exchange")
}

test_wrong_product_after_ninety_days_is_expired if {
	decide({"claim": {"reason": "wrong_product", "submitted_at": "2026-06-01T00:00:00Z"}}).reasons == ["guarantee_expired"]
}
