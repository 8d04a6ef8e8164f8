package refunds.floor.fr_test

import data.refunds.floor.fr

cfg := {"countries": ["FR"], "checkout": {"withdrawal_info": "unknown", "consent_flow": false}}

unknown_flow := {"countries": ["FR"], "checkout": {"withdrawal_info": "unknown"}}

# Placed on Wednesday 2026-07-01: the initial period ends Wednesday 07-15.
base := {
	"claim": {"submitted_at": "2026-07-10T10:00:00Z", "reason": "change_of_mind"},
	"order": {
		"placed_at": "2026-07-01T10:00:00Z", "paid_at": "2026-07-01T10:00:00Z", "currency": "EUR",
		"lines": [{"id": "l1", "kind": "product", "product_type": "software_license", "amount": 1000}],
	},
}

req(patch) := object.union(base, patch)

lines(t) := {"order": {"lines": [{"id": "l1", "kind": "product", "product_type": t, "amount": 1000}]}}

withdrawal(patch, c) := fr.withdrawal(req(patch), c)

md(outcome, remedy, amount, reasons) := {
	"outcome": outcome, "remedy": remedy, "refund": {"amount": amount, "currency": "EUR", "withheld": []},
	"reasons": [{"code": r, "message": "m"} | some r in reasons], "obligations": [],
}

deny := md("deny", "none", 0, ["reason_not_covered"])

# Withdrawal: the window and the information.

test_a_withdrawal_statement_is_invoked if {
	withdrawal({"claim": {"withdrawal": true}}, cfg).invoked == true
	withdrawal({}, cfg).invoked == false
}

test_the_start_day_is_not_counted_and_the_last_day_ends_at_midnight_paris if {
	w := withdrawal({"claim": {"submitted_at": "2026-07-15T21:59:59Z"}}, cfg)
	w.status == "applies"
	w.window.ends_at == "2026-07-15T21:59:59Z"
	withdrawal({"claim": {"submitted_at": "2026-07-15T22:00:00Z"}}, {"checkout": {"withdrawal_info": "given"}}).status == "outside_window"
}

test_a_last_day_on_a_holiday_moves if {
	# Placed Monday 2026-04-27: day 14 is Monday 05-11; placed 04-30: day 14 is 05-14, Ascension Thursday.
	w := withdrawal({"order": {"placed_at": "2026-04-30T10:00:00Z", "paid_at": "2026-04-30T10:00:00Z"}, "claim": {"submitted_at": "2026-05-15T10:00:00Z"}}, cfg)
	w.window.last_day == "2026-05-15"
	w.status == "applies"
}

test_information_given_by_the_start_keeps_the_initial_period if {
	w := withdrawal({"order": {"withdrawal_info_given_at": "2026-07-01T09:00:00Z"}, "claim": {"submitted_at": "2026-07-20T10:00:00Z"}}, cfg)
	w.status == "outside_window"
	w.window.last_day == "2026-07-15"
	not "FR.L221-20" in w.basis
}

test_information_given_by_the_checkout_keeps_the_initial_period if {
	w := withdrawal({"claim": {"submitted_at": "2026-07-20T10:00:00Z"}}, {"checkout": {"withdrawal_info": "given"}})
	w.status == "outside_window"
}

test_information_not_given_by_the_checkout_extends_the_period if {
	w := withdrawal({"claim": {"submitted_at": "2027-07-15T10:00:00Z"}}, {"checkout": {"withdrawal_info": "not_given", "consent_flow": false}})
	w.status == "applies"
	w.window.last_day == "2027-07-15"
}

test_late_information_ends_the_period_14_days_after_it if {
	w := withdrawal({"order": {"withdrawal_info_given_at": "2026-08-03T10:00:00Z"}, "claim": {"submitted_at": "2026-08-17T10:00:00Z"}}, cfg)
	w.window.last_day == "2026-08-17"
	w.status == "applies"
	"FR.L221-20" in w.basis
	withdrawal({"order": {"withdrawal_info_given_at": "2026-08-03T10:00:00Z"}, "claim": {"submitted_at": "2026-08-18T10:00:00Z"}}, cfg).status == "outside_window"
}

test_information_given_near_the_end_of_the_extension_keeps_the_extension if {
	w := withdrawal({"order": {"withdrawal_info_given_at": "2027-07-10T10:00:00Z"}, "claim": {"submitted_at": "2027-07-12T10:00:00Z"}}, cfg)
	w.window.last_day == "2027-07-15"
}

test_unknown_information_after_the_extension_is_outside if {
	withdrawal({"claim": {"submitted_at": "2027-08-01T10:00:00Z"}}, cfg).status == "outside_window"
}

test_goods_count_from_delivery_and_are_open_until_delivered if {
	goods := object.union(lines("physical_good"), {"order": {"delivered_at": "2026-07-03T10:00:00Z"}})
	withdrawal(object.union(goods, {"claim": {"submitted_at": "2026-07-17T10:00:00Z"}}), cfg).window.last_day == "2026-07-17"
	open := withdrawal(lines("physical_good"), cfg)
	open.status == "applies"
	open.window.ends_at == null
}

test_a_renewed_subscription_opens_no_withdrawal if {
	withdrawal({"subscription": {"auto_renewed": true}}, cfg).status == "not_applicable"
}

# Withdrawal: the exceptions of L221-28.

consent(c, ack, confirmation) := {"order": {"immediate_performance": {"consent_at": c, "loss_acknowledged": ack, "confirmation_sent_at": confirmation}}}

test_digital_content_with_consent_acknowledgment_and_confirmation_is_excluded if {
	withdrawal(object.union(consent("2026-07-01T10:00:00Z", true, "2026-07-01T10:01:00Z"), {"order": {"delivered_at": "2026-07-01T10:00:00Z"}}), cfg).status == "excluded"
}

test_digital_content_consent_after_supply_or_without_acknowledgment_is_not_met if {
	withdrawal(consent("2026-07-02T10:00:00Z", true, "2026-07-02T10:01:00Z"), cfg).status == "applies"
	withdrawal(consent("2026-07-01T10:00:00Z", false, "2026-07-01T10:01:00Z"), cfg).status == "applies"
}

test_digital_content_missing_facts_need_them_unless_the_checkout_cannot_collect_them if {
	w := withdrawal({"order": {"immediate_performance": {"consent_at": "2026-07-01T10:00:00Z"}}}, unknown_flow)
	w.status == "needs_facts"
	w.missing == ["order.immediate_performance.confirmation_sent_at", "order.immediate_performance.loss_acknowledged"]
	w.grants.amount == 1000
	withdrawal({}, cfg).status == "applies"
}

test_a_fully_performed_service_with_consent_is_excluded if {
	svc := object.union(lines("digital_service"), consent("2026-07-01T10:00:00Z", true, null))
	withdrawal(object.union(svc, {"order": {"performance_completed_at": "2026-07-05T10:00:00Z"}}), cfg).status == "excluded"
	partly := withdrawal(svc, cfg)
	partly.status == "applies"
	partly.grants.amount_kind == "upper_bound"
}

test_a_service_without_consent_owes_nothing if {
	svc := lines("digital_service")
	withdrawal(object.union(svc, consent("2026-07-01T10:00:00Z", false, null)), unknown_flow).grants.amount_kind == "exact"
	withdrawal(svc, cfg).grants.amount_kind == "exact"
	w := withdrawal(svc, unknown_flow)
	w.status == "needs_facts"
	w.missing == ["order.immediate_performance.consent_at", "order.immediate_performance.loss_acknowledged"]
}

test_goods_have_no_exception if {
	withdrawal(object.union(lines("physical_good"), {"order": {"delivered_at": "2026-07-01T10:00:00Z"}}), unknown_flow).status == "applies"
}

# Conformity.

defect(patch) := object.union(req({"claim": {"reason": "defective", "submitted_at": "2026-09-01T10:00:00Z"}}), patch)

conformity(patch, decision) := [r | some r in fr.rights(defect(patch), decision, cfg); r.right == "conformity"]

test_conformity_concerns_defect_claims_only if {
	count([r | some r in fr.rights(req({}), deny, cfg); r.right == "conformity"]) == 0
}

test_a_defect_the_merchant_does_not_concede_is_for_a_person if {
	[c] := conformity({}, deny)
	c.status == "needs_human"
	c.grants == {"remedy": "none", "amount": 0, "amount_kind": "exact"}
}

test_a_conceded_digital_defect_without_a_failed_attempt_grants_what_the_merchant_gave if {
	[c] := conformity({}, md("approve", "replacement", 0, ["warranty_repair"]))
	c.status == "applies"
	c.grants == {"remedy": "replacement", "amount": 0, "amount_kind": "exact"}
}

test_a_digital_defect_after_two_years_is_outside if {
	[c] := conformity({"claim": {"submitted_at": "2028-07-02T10:00:00Z"}}, deny)
	c.status == "outside_window"
	not c.merchant_ground
}

test_an_unrecognised_merchant_ground_is_reported if {
	[c] := conformity({}, md("deny", "none", 0, ["refund_window_expired"]))
	c.merchant_ground == {"code": "refund_window_expired", "recognised": false}
}

test_goods_without_supply_need_the_delivery if {
	[c] := conformity(object.union(lines("physical_good"), {"order": {"paid_at": null}}), deny)
	c.status == "needs_facts"
	c.missing == ["order.delivered_at"]
	not c.presumption_until
}

test_second_hand_goods_are_presumed_for_12_months if {
	[c] := conformity(object.union(lines("physical_good"), {"item": {"second_hand": true}}), deny)
	c.presumption_until == "2027-07-01"
}

test_goods_the_consumer_did_not_choose_a_remedy_for if {
	[c] := conformity(lines("physical_good"), md("approve", "refund", 1000, ["defective_on_arrival"]))
	c.grants == {"remedy": "refund", "amount": 1000, "amount_kind": "exact"}
	c.overridden == false
}

test_a_replacement_found_impossible_is_no_override if {
	[c] := conformity(object.union(lines("physical_good"), {"claim": {"remedy": "repair"}}), md("approve", "replacement", 0, ["repair_impossible"]))
	c.overridden == false
}

subscription := object.union(lines("subscription"), {
	"claim": {"issue_reported_at": "2026-10-01T00:00:00Z", "support_unresolved": true},
	"subscription": {"period_start": "2026-07-01T00:00:00Z", "period_end": "2027-07-01T00:00:00Z", "last_payment_amount": 36500},
})

test_a_subscription_refunds_the_share_from_the_defect_rounded_up if {
	[c] := conformity(subscription, md("partial", "refund", 100, ["prorated_refund"]))
	c.status == "applies"
	c.grants.amount == 27300 # 36500 x 273 / 365
}

test_a_subscription_defect_outside_its_period_or_without_it if {
	[late] := conformity(object.union(subscription, {"claim": {"issue_reported_at": "2027-08-01T00:00:00Z", "submitted_at": "2027-08-01T00:00:00Z"}}), deny)
	late.status == "outside_window"
	[no_end] := conformity(object.union(subscription, {"subscription": {"period_end": null}}), deny)
	no_end.status == "needs_facts"
	[none] := conformity(object.union(lines("subscription"), {}), deny)
	none.missing == ["subscription.period_end", "subscription.period_start"]
}

test_a_digital_defect_with_a_failed_attempt_refunds_everything_paid if {
	[c] := conformity({"claim": {"support_unresolved": true}}, md("partial", "refund", 500, ["within_refund_window"]))
	c.grants == {"remedy": "refund", "amount": 1000, "amount_kind": "exact"}
}

test_no_conformity_without_a_known_product_type if {
	count(conformity({"order": {"lines": [{"id": "l1", "kind": "product", "amount": 1000}]}}, deny)) == 0
}

# Renewal termination (L215-1).

renewal(patch) := [r |
	some r in fr.rights(
		object.union(
			req(object.union(lines("subscription"), {"subscription": {
				"billing": "monthly", "last_payment_at": "2026-07-01T00:00:00Z", "last_payment_amount": 3000, "auto_renewed": true,
				"renewal_notice_sent_at": null,
			}})),
			patch,
		),
		deny, cfg,
	)
	r.right == "renewal_termination"
]

test_renewal_without_notice_refunds_the_unused_share if {
	[r] := renewal({})
	r.status == "applies"
	r.invoked == false
	r.grants.amount == 2130 # 3000 - floor(3000 x 9 / 31)
}

test_renewal_is_invoked_by_a_cancellation if {
	[r] := renewal({"claim": {"remedy": "cancel_renewal"}})
	r.invoked == true
}

test_a_notice_in_the_window_leaves_no_free_termination if {
	[r] := renewal({"subscription": {"renewal_notice_sent_at": "2026-05-01T00:00:00Z"}})
	r.status == "not_applicable"
	[early] := renewal({"subscription": {"renewal_notice_sent_at": "2026-03-31T00:00:00Z"}})
	early.status == "applies"
}

test_an_unknown_notice_or_amount_needs_the_fact if {
	[r] := fr.renewal_termination(req({"subscription": {"auto_renewed": true, "period_start": "2026-07-01T00:00:00Z", "billing": "annual"}}))
	r.status == "needs_facts"
	r.missing == ["subscription.last_payment_amount", "subscription.renewal_notice_sent_at"]
	r.grants.amount == 0
}

test_an_annual_period_without_its_end_runs_12_months if {
	[r] := renewal({"subscription": {"billing": "annual", "last_payment_amount": 36500, "period_start": "2026-07-01T00:00:00Z"}})
	r.grants.amount == 35600 # 36500 - floor(36500 x 9 / 365)
}

test_no_renewal_right_without_tacit_renewal if {
	count(fr.renewal_termination(req({"subscription": {"auto_renewed": false}}))) == 0
}

test_renewal_without_a_renewal_date_needs_it if {
	[r] := fr.renewal_termination({"claim": base.claim, "order": object.remove(base.order, ["paid_at"]), "subscription": {"auto_renewed": true}})
	r.status == "needs_facts"
	r.missing == ["subscription.period_start"]
}

test_consent_cannot_precede_a_supply_that_did_not_happen if {
	w := withdrawal(object.union(consent("2026-07-01T10:00:00Z", true, "2026-07-01T10:01:00Z"), {"order": {"paid_at": null}}), cfg)
	w.status == "applies"
}
