# METADATA
# description: |
#   The worked examples of the statutory floor - consumers, the launch
#   merchants' floor data, report mode - each with the merchant's decision
#   as its policy gives it.
package refunds.floor.examples_test

import data.refunds.floor

fr_cfg := {"countries": ["FR"], "checkout": {"withdrawal_info": "unknown", "consent_flow": false}, "mode": "report"}

br_cfg := {"countries": ["BR", "FR"], "checkout": {"withdrawal_info": "unknown", "consent_flow": false}, "mode": "report"}

# A merchant decision by its codes and money.
md(outcome, remedy, amount, currency, reasons) := {
	"outcome": outcome, "remedy": remedy,
	"refund": {"amount": amount, "currency": currency, "withheld": []},
	"reasons": [{"code": c, "message": "m"} | some c in reasons], "obligations": [],
}

section(req, decision, cfg) := floor.apply(decision, req, cfg, data.messages.en).legal_floor

right(s, name) := [r | some r in s.rights; r.right == name][0]

consumer(country) := {"id": "cus_1", "type": "consumer", "country": country}

licence := {
	"placed_at": "2026-03-01T10:00:00Z", "paid_at": "2026-03-01T10:00:00Z", "currency": "EUR",
	"lines": [
		{"id": "l1", "kind": "product", "product_type": "software_license", "amount": 19900},
		{"id": "l2", "kind": "tax", "product_type": "software_license", "amount": 3980},
	],
}

test_1_crmjetty_withdrawal_on_the_moved_last_day if {
	s := section(
		{"claim": {"submitted_at": "2026-03-16T09:00:00Z", "reason": "change_of_mind"}, "order": licence, "customer": consumer("FR")},
		md("deny", "none", 0, "EUR", ["reason_not_accepted"]), fr_cfg,
	)
	s.jurisdiction == "FR"
	s.comparison == "below"
	s.shortfall == 23880
	w := right(s, "withdrawal")
	w.status == "applies"
	w.window == {"start": "2026-03-01T10:00:00Z", "last_day": "2026-03-16", "ends_at": "2026-03-16T22:59:59Z"}
	w.grants == {"remedy": "refund", "amount": 23880, "amount_kind": "exact"}
	w.code == "floor_withdrawal"
	w.invoked == false
	count(s.rights) == 1
}

test_2_crmjetty_conformity_refunds_the_tax_too if {
	s := section(
		{
			"claim": {"submitted_at": "2026-03-20T10:00:00Z", "reason": "defective", "support_unresolved": true},
			"order": object.union(licence, {"withdrawal_info_given_at": "2026-03-01T10:00:00Z"}), "customer": consumer("FR"),
		},
		md("partial", "refund", 19900, "EUR", ["within_refund_window"]), fr_cfg,
	)
	right(s, "withdrawal").status == "outside_window"
	c := right(s, "conformity")
	c.status == "applies"
	c.grants == {"remedy": "refund", "amount": 23880, "amount_kind": "exact"}
	c.comparison == "below"
	s.shortfall == 3980
}

test_3_crmjetty_renewal_without_timely_notice if {
	s := section(
		{
			"claim": {"submitted_at": "2026-03-10T10:00:00Z", "reason": "cancel_subscription"},
			"order": {"placed_at": "2026-01-15T00:00:00Z", "paid_at": "2026-01-15T00:00:00Z", "currency": "EUR", "lines": [{"id": "l1", "kind": "product", "product_type": "subscription", "amount": 59900}]},
			"subscription": {
				"billing": "annual", "period_start": "2026-01-15T00:00:00Z", "period_end": "2027-01-15T00:00:00Z",
				"last_payment_at": "2026-01-15T00:00:00Z", "last_payment_amount": 59900, "auto_renewed": true,
				"renewal_notice_sent_at": "2026-01-08T00:00:00Z",
			},
			"customer": consumer("FR"),
		},
		md("deny", "none", 0, "EUR", ["refund_window_expired"]), fr_cfg,
	)
	right(s, "withdrawal").status == "not_applicable"
	r := right(s, "renewal_termination")
	r.status == "applies"
	r.invoked == true
	r.grants == {"remedy": "refund", "amount": 51039, "amount_kind": "exact"}
	r.comparison == "below"
	s.shortfall == 51039
}

test_4_social_services_digital_service_without_consent if {
	s := section(
		{
			"claim": {"submitted_at": "2026-05-12T10:00:00Z", "reason": "change_of_mind"},
			"order": {"placed_at": "2026-05-04T10:00:00Z", "paid_at": "2026-05-04T10:00:00Z", "currency": "EUR", "lines": [{"id": "l1", "kind": "product", "product_type": "digital_service", "amount": 4900}]},
			"customer": consumer("FR"),
		},
		md("deny", "none", 0, "EUR", ["intangible_goods_irrevocable"]), fr_cfg,
	)
	w := right(s, "withdrawal")
	w.status == "applies"
	w.grants == {"remedy": "refund", "amount": 4900, "amount_kind": "exact"}
	s.comparison == "below"
}

test_5_social_services_monthly_subscription if {
	s := section(
		{
			"claim": {"submitted_at": "2026-09-10T10:00:00Z", "reason": "cancel_subscription"},
			"order": {"placed_at": "2026-09-01T10:00:00Z", "paid_at": "2026-09-01T10:00:00Z", "currency": "EUR", "lines": [{"id": "l1", "kind": "product", "product_type": "subscription", "amount": 2900}]},
			"subscription": {"billing": "monthly", "last_payment_at": "2026-09-01T10:00:00Z", "auto_renewed": false},
			"customer": consumer("FR"),
		},
		md("partial", "cancel_renewal", 0, "EUR", ["recurring_refund_window_expired"]), fr_cfg,
	)
	w := right(s, "withdrawal")
	w.status == "applies"
	w.window.last_day == "2026-09-15"
	s.shortfall == 2900
	count(s.rights) == 1
}

test_6_machine_shop_withdrawal_from_delivery_shipping_included if {
	s := section(
		{
			"claim": {"submitted_at": "2026-03-12T10:00:00Z", "reason": "change_of_mind"},
			"order": {
				"placed_at": "2026-03-01T10:00:00Z", "paid_at": "2026-03-01T10:00:00Z", "delivered_at": "2026-03-03T10:00:00Z", "currency": "EUR",
				"lines": [
					{"id": "l1", "kind": "product", "product_type": "physical_good", "amount": 89900},
					{"id": "l2", "kind": "shipping", "amount": 1500},
				],
			},
			"customer": consumer("FR"),
		},
		md("deny", "none", 0, "EUR", ["reason_not_covered"]), fr_cfg,
	)
	w := right(s, "withdrawal")
	w.window.last_day == "2026-03-17"
	w.grants.amount == 91400
	s.comparison == "below"
}

test_7_machine_shop_repair_imposed_on_a_consumer_who_chose_replacement if {
	s := section(
		{
			"claim": {"submitted_at": "2026-07-20T10:00:00Z", "reason": "defective", "remedy": "replacement"},
			"order": {"placed_at": "2025-11-01T10:00:00Z", "paid_at": "2025-11-01T10:00:00Z", "delivered_at": "2025-11-10T10:00:00Z", "currency": "EUR", "lines": [{"id": "l1", "kind": "product", "product_type": "physical_good", "amount": 89900}]},
			"item": {"condition": "used", "repairable": true},
			"customer": consumer("FR"),
		},
		md("approve", "repair", 0, "EUR", ["warranty_repair"]), fr_cfg,
	)
	c := right(s, "conformity")
	c.status == "applies"
	c.comparison == "below"
	c.presumption_until == "2027-11-10"
	not c.overridden
	s.comparison == "below"
	s.shortfall == 0
}

test_8_saas_codes_brazil_unredeemed_code if {
	s := section(
		{
			"claim": {"submitted_at": "2026-04-14T10:00:00Z", "reason": "change_of_mind"},
			"order": {
				"placed_at": "2026-04-10T10:00:00Z", "paid_at": "2026-04-10T10:00:00Z", "delivered_at": "2026-04-10T10:00:00Z", "digital_redeemed_at": null,
				"currency": "BRL", "lines": [{"id": "l1", "kind": "product", "product_type": "saas_code", "amount": 9990}],
			},
			"customer": consumer("BR"),
		},
		md("deny", "none", 0, "BRL", ["saas_code_non_refundable", "resale_allowed"]), br_cfg,
	)
	s.jurisdiction == "BR"
	w := right(s, "withdrawal")
	w.status == "applies"
	w.window.last_day == "2026-04-17"
	w.grants == {"remedy": "refund", "amount": 9990, "amount_kind": "at_least"}
	w.basis == ["BR.CDC.49"]
	s.comparison == "below"
	s.shortfall == 0
}

test_9_saas_codes_france_code if {
	s := section(
		{
			"claim": {"submitted_at": "2026-09-20T10:00:00Z", "reason": "bought_by_mistake"},
			"order": {"placed_at": "2026-09-14T10:00:00Z", "paid_at": "2026-09-14T10:00:00Z", "delivered_at": "2026-09-14T10:00:00Z", "currency": "EUR", "lines": [{"id": "l1", "kind": "product", "product_type": "saas_code", "amount": 2490}]},
			"customer": consumer("FR"),
		},
		md("deny", "none", 0, "EUR", ["saas_code_non_refundable", "resale_allowed"]), br_cfg,
	)
	w := right(s, "withdrawal")
	w.window.last_day == "2026-09-28"
	w.grants.amount == 2490
	s.comparison == "below"
}

aomei_order := {
	"placed_at": "2026-02-01T10:00:00Z", "paid_at": "2026-02-01T10:00:00Z", "currency": "EUR",
	"lines": [
		{"id": "l1", "kind": "product", "product_type": "software_license", "amount": 4999},
		{"id": "l2", "kind": "tax", "product_type": "software_license", "amount": 1000},
	],
}

test_10_aomei_information_not_given_extends_the_period if {
	s := section(
		{"claim": {"submitted_at": "2026-06-01T10:00:00Z", "reason": "change_of_mind"}, "order": object.union(aomei_order, {"withdrawal_info_given_at": null}), "customer": consumer("FR")},
		md("deny", "none", 0, "EUR", ["guarantee_expired"]), fr_cfg,
	)
	w := right(s, "withdrawal")
	w.status == "applies"
	w.window.last_day == "2027-02-16"
	"FR.L221-20" in w.basis
	w.grants.amount == 5999
	s.comparison == "below"
}

test_11_aomei_information_unknown_needs_the_fact if {
	s := section(
		{"claim": {"submitted_at": "2026-06-01T10:00:00Z", "reason": "change_of_mind"}, "order": aomei_order, "customer": consumer("FR")},
		md("deny", "none", 0, "EUR", ["guarantee_expired"]), fr_cfg,
	)
	w := right(s, "withdrawal")
	w.status == "needs_facts"
	w.missing == ["order.withdrawal_info_given_at"]
	w.window.last_day == "2026-02-16"
	s.comparison == "indeterminate"
	s.shortfall == 0
}

test_12_aomei_refund_after_the_period if {
	s := section(
		{
			"claim": {"submitted_at": "2026-07-20T10:00:00Z", "reason": "change_of_mind"},
			"order": object.union(aomei_order, {"placed_at": "2026-07-01T10:00:00Z", "paid_at": "2026-07-01T10:00:00Z", "withdrawal_info_given_at": "2026-07-01T10:00:00Z"}),
			"customer": consumer("FR"),
		},
		md("approve", "refund", 5999, "EUR", ["money_back_guarantee"]), fr_cfg,
	)
	w := right(s, "withdrawal")
	w.status == "outside_window"
	w.window.last_day == "2026-07-15"
	w.comparison == "not_applicable"
	s.comparison == "not_applicable"
}
