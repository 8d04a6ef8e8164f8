package refunds.merchants.machine_shop_test

import data.refunds.merchants.machine_shop
import data.refunds.testing

base := {
	"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "defective"},
	"order": {
		"placed_at": "2026-03-01T09:58:00Z",
		"paid_at": "2026-03-01T10:00:00Z",
		"delivered_at": "2026-03-03T15:00:00Z",
		"currency": "EUR",
		"payment_method": "paypal",
		"lines": [
			{"id": "l1", "sku": "espresso-x2", "kind": "product", "product_type": "physical_good", "amount": 89900},
			{"id": "l2", "sku": "delivery", "kind": "shipping", "amount": 1500},
		],
	},
	"item": {"condition": "used"},
}

decide(patch) := testing.summary(d) if {
	d := machine_shop.decision with input as object.union(base, patch)
}

eur(outcome, remedy, reasons, obligations) := testing.no_money(outcome, remedy, reasons, obligations, "EUR")

test_unpaid_order_is_cancelled if {
	decide({"order": {"paid_at": null}}) == eur("approve", "cancel_order", ["order_not_paid"], [])
}

test_open_payment_dispute_comes_first if {
	decide({"order": {"payment_dispute_open": true}, "item": {"condition": "new_unused"}}) == eur("deny", "none", ["payment_dispute_open"], ["customer_pays_return_shipping"])
}

test_misuse_is_not_covered if {
	decide({"item": {"misuse": true, "condition": "new_unused"}}) == eur("deny", "none", ["misuse_not_covered"], [])
}

test_new_unused_faulty_machine_is_replaced if {
	decide({"claim": {"reason": "not_working"}, "item": {"condition": "new_unused", "repairable": false}}) == eur("approve", "replacement", ["defective_on_arrival"], ["return_item"])
}

test_used_machine_is_repaired if {
	decide({}) == eur("approve", "repair", ["warranty_repair"], [])
	decide({"item": {"repairable": true}}) == eur("approve", "repair", ["warranty_repair"], [])
}

test_machine_without_condition_counts_as_used if {
	d := machine_shop.decision with input as object.remove(base, {"item"})
	testing.summary(d) == eur("approve", "repair", ["warranty_repair"], [])
}

test_used_machine_that_cannot_be_repaired_is_replaced if {
	decide({"item": {"repairable": false}}) == eur("approve", "replacement", ["repair_impossible"], ["return_item"])
}

test_guarantee_runs_two_years_from_delivery if {
	decide({"claim": {"submitted_at": "2028-03-03T15:00:00Z"}}) == eur("approve", "repair", ["warranty_repair"], [])
	decide({"claim": {"submitted_at": "2028-03-03T15:00:01Z"}}) == eur("deny", "paid_repair", ["warranty_expired"], ["customer_pays_repair"])
}

test_guarantee_runs_from_payment_without_delivery if {
	d := machine_shop.decision with input as object.union(
		object.remove(base, {"order"}),
		{"order": object.remove(base.order, {"delivered_at"}), "claim": {"submitted_at": "2028-03-01T10:00:01Z"}},
	)
	testing.summary(d).reasons == ["warranty_expired"]
}

test_other_reasons_are_not_covered if {
	every reason in ["change_of_mind", "not_as_described", "wrong_product", "other"] {
		decide({"claim": {"reason": reason}}) == eur("deny", "none", ["reason_not_covered"], [])
	}
}
