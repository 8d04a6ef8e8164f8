package refunds.merchants.crmjetty_test

import data.refunds.merchants.crmjetty
import data.refunds.testing

base := {
	"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "defective", "support_unresolved": true},
	"order": {
		"placed_at": "2026-03-01T09:58:00Z",
		"paid_at": "2026-03-01T10:00:00Z",
		"currency": "EUR",
		"lines": [
			{"id": "l1", "sku": "crm-sync-pro", "kind": "product", "amount": 19900},
			{"id": "l2", "sku": "vat", "kind": "tax", "amount": 3980},
		],
	},
	"customer": {"previously_refunded_skus": ["crm-old"]},
}

decide(patch) := testing.summary(d) if {
	d := crmjetty.decision with input as object.union(base, patch)
}

tax := {"line_id": "l2", "amount": 3980, "code": "tax_not_refundable"}

refund(outcome, amount, withheld, reason) := {
	"outcome": outcome,
	"remedy": "refund",
	"refund": {"amount": amount, "currency": "EUR", "withheld": withheld},
	"reasons": [reason],
	"obligations": ["deactivate_license"],
}

deny(reason) := testing.no_money("deny", "none", [reason], [], "EUR")

support_first := testing.no_money("refer", "support", ["support_first"], ["open_support_ticket"], "EUR")

# Unpaid orders come before every rule.

test_unpaid_order_is_cancelled if {
	decide({"order": {"paid_at": null}, "customer": {"copyright_violation": true}}) == testing.no_money("approve", "cancel_order", ["order_not_paid"], [], "EUR")
}

# Rule 1 and 2.

test_copyright_violation_comes_first if {
	decide({"customer": {"copyright_violation": true, "previously_refunded_skus": ["crm-sync-pro"]}}) == deny("copyright_violation")
}

test_repeat_refund_of_a_claimed_product if {
	decide({"customer": {"previously_refunded_skus": ["crm-sync-pro"]}}) == deny("repeat_refund")
}

test_repeat_refund_ignores_lines_not_claimed_and_non_product_lines if {
	decide({"claim": {"line_ids": ["l2"]}, "customer": {"previously_refunded_skus": ["crm-sync-pro"]}}) != deny("repeat_refund")
	decide({"customer": {"previously_refunded_skus": ["vat"]}}) == refund("partial", 19900, [tax], "within_refund_window")
}

# Rule 3: automatic renewals, 5 business days in Europe/Paris.

renewal(billing, last_payment, submitted, reason) := decide({
	"claim": {"submitted_at": submitted, "reason": reason, "support_unresolved": false},
	"order": {"placed_at": last_payment, "paid_at": last_payment},
	"subscription": {"billing": billing, "auto_renewed": true, "period_start": last_payment, "last_payment_at": last_payment},
})

test_renewal_refunded_within_five_business_days_whatever_the_reason if {
	# Friday 6 March 2026: the fifth business day is Friday 13 March.
	renewal("monthly", "2026-03-06T10:00:00Z", "2026-03-13T22:59:59Z", "change_of_mind") == refund("partial", 19900, [tax], "renewal_refund_in_time")
	renewal("annual", "2026-03-06T10:00:00Z", "2026-03-15T12:00:00Z", "no_longer_used") == refund("partial", 19900, [tax], "renewal_refund_in_time")
}

test_monthly_renewal_after_five_business_days_is_cancelled_without_refund if {
	# Monday 16 March 00:00 in Paris is the sixth business day.
	renewal("monthly", "2026-03-06T10:00:00Z", "2026-03-15T23:00:00Z", "change_of_mind") == testing.no_money("partial", "cancel_renewal", ["renewal_refund_window_expired"], [], "EUR")
}

test_renewal_window_skips_holidays if {
	# Thursday 30 April 2026: 1 and 8 May are holidays, so the fifth business day is Monday 11 May.
	renewal("monthly", "2026-04-30T10:00:00Z", "2026-05-11T21:59:59Z", "other") == refund("partial", 19900, [tax], "renewal_refund_in_time")
	renewal("monthly", "2026-04-30T10:00:00Z", "2026-05-11T22:00:00Z", "other").reasons == ["renewal_refund_window_expired"]
}

test_annual_renewal_after_five_business_days_continues_with_rule_6 if {
	# Rule 4 is skipped: the reason is judged by rule 6.
	renewal("annual", "2026-03-06T10:00:00Z", "2026-03-20T10:00:00Z", "change_of_mind") == deny("reason_not_accepted")
	d := decide({
		"claim": {"submitted_at": "2026-03-20T10:00:00Z", "reason": "defective", "support_unresolved": true},
		"subscription": {"billing": "annual", "auto_renewed": true, "last_payment_at": "2026-03-06T10:00:00Z"},
	})
	d == refund("partial", 19900, [tax], "within_refund_window")
}

# Rules 4 and 5.

test_reasons_not_accepted if {
	every reason in ["change_of_mind", "evaluation", "bought_by_mistake", "no_longer_used"] {
		decide({"claim": {"reason": reason}}) == deny("reason_not_accepted")
	}
}

test_third_party_conflict_is_referred if {
	decide({"claim": {"reason": "third_party_conflict"}}) == testing.no_money("refer", "none", ["third_party_conflict_review"], [], "EUR")
}

# Rule 6: annual subscriptions paid 15 January 2026.

annual(claim) := decide({
	"claim": claim,
	"order": {"placed_at": "2026-01-15T00:00:00Z", "paid_at": "2026-01-15T00:00:00Z"},
	"subscription": {"billing": "annual", "period_start": "2026-01-15T00:00:00Z", "period_end": "2027-01-15T00:00:00Z", "last_payment_at": "2026-01-15T00:00:00Z"},
})

test_annual_within_thirty_days_unresolved_is_refunded if {
	annual({"submitted_at": "2026-02-14T00:00:00Z", "reason": "dissatisfied", "support_unresolved": true}) == refund("partial", 19900, [tax], "within_refund_window")
}

test_annual_within_thirty_days_goes_to_support_first if {
	annual({"submitted_at": "2026-02-14T00:00:00Z", "reason": "not_working", "support_unresolved": false}) == support_first
}

test_annual_within_thirty_days_other_reason_is_not_accepted if {
	annual({"submitted_at": "2026-02-01T00:00:00Z", "reason": "wrong_region", "support_unresolved": true}) == deny("reason_not_accepted")
}

test_annual_later_with_issue_reported_in_time_is_prorated if {
	# 14 February + 1 s is past the window; 2 whole months have passed by 20 March,
	# so 10 of 12 months are refunded: floor(19900 * 10 / 12) = 16583.
	annual({"submitted_at": "2026-03-20T00:00:00Z", "reason": "defective", "issue_reported_at": "2026-02-14T00:00:00Z"}) == refund(
		"partial", 16583,
		[tax, {"line_id": "l1", "amount": 3317, "code": "elapsed_months_not_refundable"}],
		"prorated_refund",
	)

	# One second past the window no whole month has passed yet: all 12 months are refunded.
	annual({"submitted_at": "2026-02-14T00:00:01Z", "reason": "defective", "issue_reported_at": "2026-02-14T00:00:00Z"}) == refund("partial", 19900, [tax], "prorated_refund")
}

test_annual_later_counts_the_current_month_as_remaining if {
	# 11 whole months by 14 January 2027: 1 month left.
	annual({"submitted_at": "2027-01-14T23:59:59Z", "reason": "defective", "issue_reported_at": "2026-01-20T00:00:00Z"}).refund.amount == 1658
}

test_annual_later_with_issue_reported_late_is_expired if {
	annual({"submitted_at": "2026-03-20T00:00:00Z", "reason": "defective", "issue_reported_at": "2026-02-14T00:00:01Z"}) == deny("refund_window_expired")
	annual({"submitted_at": "2026-03-20T00:00:00Z", "reason": "defective"}) == deny("refund_window_expired")
}

test_annual_later_other_reason_is_expired if {
	annual({"submitted_at": "2026-03-20T00:00:00Z", "reason": "other", "issue_reported_at": "2026-01-20T00:00:00Z"}) == deny("refund_window_expired")
}

test_annual_after_the_period_has_nothing_to_prorate if {
	annual({"submitted_at": "2027-01-15T00:00:00Z", "reason": "defective", "issue_reported_at": "2026-01-20T00:00:00Z"}) == deny("refund_window_expired")
}

test_annual_payment_defaults_to_paid_at_and_period_to_payment if {
	d := decide({
		"claim": {"submitted_at": "2026-05-01T00:00:00Z", "reason": "defective", "issue_reported_at": "2026-03-05T00:00:00Z"},
		"subscription": {"billing": "annual"},
	})

	# Paid 1 March 10:00; 1 whole month by 1 May 00:00: floor(19900 * 11 / 12).
	d.refund.amount == 18241
	d.reasons == ["prorated_refund"]
}

# Rule 7: one-time purchases paid 1 March 2026 10:00.

test_one_time_within_thirty_days_unresolved_is_refunded if {
	decide({"claim": {"submitted_at": "2026-03-31T10:00:00Z", "reason": "not_as_described"}}) == refund("partial", 19900, [tax], "within_refund_window")
}

test_one_time_claiming_only_the_product_is_approved if {
	decide({"claim": {"line_ids": ["l1"]}}) == refund("approve", 19900, [], "within_refund_window")
}

test_one_time_non_refundable_kinds_are_withheld if {
	d := decide({"order": {"lines": [
		{"id": "p", "kind": "product", "amount": 1000},
		{"id": "c", "kind": "customization", "amount": 300},
		{"id": "s", "kind": "support", "amount": 200},
		{"id": "x", "kind": "extra_domain", "amount": 100},
		{"id": "h", "kind": "shipping", "amount": 50},
	]}})
	d.refund.amount == 1050
	d.refund.withheld == [
		{"line_id": "c", "amount": 300, "code": "customization_not_refundable"},
		{"line_id": "s", "amount": 200, "code": "support_not_refundable"},
		{"line_id": "x", "amount": 100, "code": "extra_domain_not_refundable"},
	]
}

test_one_time_claiming_only_withheld_lines_refunds_nothing if {
	decide({"claim": {"line_ids": ["l2"]}}) == {
		"outcome": "deny",
		"remedy": "none",
		"refund": {"amount": 0, "currency": "EUR", "withheld": [tax]},
		"reasons": ["within_refund_window"],
		"obligations": [],
	}
}

test_one_time_within_thirty_days_goes_to_support_first if {
	decide({"claim": {"reason": "defective", "support_unresolved": false}}) == support_first
}

test_one_time_within_thirty_days_other_reason_is_not_accepted if {
	decide({"claim": {"reason": "dissatisfied"}}) == deny("reason_not_accepted")
}

test_one_time_one_second_late_is_expired if {
	decide({"claim": {"submitted_at": "2026-03-31T10:00:01Z"}}) == deny("refund_window_expired")
}
