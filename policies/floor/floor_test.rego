package refunds.floor_test

import data.refunds.floor

cfg(mode) := {"countries": ["FR", "BR"], "checkout": {"withdrawal_info": "unknown", "consent_flow": false}, "mode": mode}

# A French consumer withdraws a licence on day 10: the law refunds 1200.
req := {
	"claim": {"submitted_at": "2026-07-10T10:00:00Z", "reason": "change_of_mind", "withdrawal": true},
	"order": {
		"placed_at": "2026-07-01T10:00:00Z", "paid_at": "2026-07-01T10:00:00Z", "currency": "EUR",
		"lines": [
			{"id": "l1", "kind": "product", "product_type": "software_license", "amount": 1000},
			{"id": "l2", "kind": "tax", "product_type": "software_license", "amount": 200},
		],
	},
	"customer": {"type": "consumer", "country": "FR"},
}

md(outcome, remedy, amount) := {
	"outcome": outcome, "remedy": remedy, "refund": {"amount": amount, "currency": "EUR", "withheld": []},
	"reasons": [{"code": "reason_not_accepted", "message": "m"}], "obligations": [],
}

deny := md("deny", "none", 0)

decide(r, decision, mode) := floor.apply(decision, r, cfg(mode), data.messages.en)

test_off_leaves_the_decision_alone if {
	decide(req, deny, "off") == deny
}

test_report_adds_the_section_and_changes_nothing_else if {
	d := decide(req, deny, "report")
	object.remove(d, ["legal_floor"]) == deny
	d.legal_floor.version == data.floor.version
	d.legal_floor.mode == "report"
	d.legal_floor.comparison == "below"
	d.legal_floor.shortfall == 1200
	w := d.legal_floor.rights[0]
	w.code == "floor_withdrawal"
	w.message == data.messages.en.floor_withdrawal
	w.comparison == "below"
}

test_report_is_the_default if {
	floor.apply(deny, req, {"countries": ["FR"]}, data.messages.en).legal_floor.mode == "report"
}

test_refer_sends_a_below_floor_decision_to_a_person if {
	d := decide(req, deny, "refer")
	d.outcome == "refer"
	d.remedy == "support"
	d.refund.amount == 0
	[r.code | some r in d.reasons] == ["statutory_floor_review", "reason_not_accepted"]
	d.legal_floor.merchant_decision == deny
}

test_refer_leaves_a_decision_that_meets_the_floor if {
	full := md("approve", "refund", 1200)
	d := decide(req, full, "refer")
	d.outcome == "approve"
	d.legal_floor.comparison == "meets"
	d.legal_floor.rights[0].comparison == "meets"
	not d.legal_floor.merchant_decision
}

test_enforce_applies_an_invoked_exact_grant if {
	d := decide(req, deny, "enforce")
	d.outcome == "approve"
	d.refund == {"amount": 1200, "currency": "EUR", "withheld": []}
	d.reasons[0].code == "statutory_floor_applied"
	d.legal_floor.merchant_decision == deny
}

test_enforce_refers_what_it_cannot_apply if {
	not_invoked := json.patch(req, [{"op": "replace", "path": "/claim/withdrawal", "value": false}])
	decide(not_invoked, deny, "enforce").outcome == "refer"
	decide(req, md("approve", "refund", 1200), "enforce").outcome == "approve"
}

test_no_jurisdiction_outside_the_merchant_countries_or_the_modelled_laws if {
	s := decide(json.patch(req, [{"op": "replace", "path": "/customer/country", "value": "DE"}]), deny, "report").legal_floor
	s.jurisdiction == null
	s.rights == []
	s.comparison == "not_applicable"
	s.shortfall == 0
	floor.apply(deny, req, {"countries": ["BR"]}, data.messages.en).legal_floor.jurisdiction == null
	floor.apply(deny, object.remove(req, ["customer"]), cfg("report"), data.messages.en).legal_floor.jurisdiction == null
}

test_a_french_business_customer_has_no_rights if {
	s := decide(json.patch(req, [{"op": "replace", "path": "/customer/type", "value": "business"}]), deny, "report").legal_floor
	s.jurisdiction == "FR"
	s.rights == []
	s.comparison == "not_applicable"
}

test_an_unknown_customer_type_needs_the_fact if {
	s := decide(json.patch(req, [{"op": "remove", "path": "/customer/type"}]), deny, "report").legal_floor
	s.rights[0].status == "needs_facts"
	s.rights[0].missing == ["customer.type"]
	s.rights[0].code == "floor_withdrawal_needs_facts"
	s.comparison == "indeterminate"
	br := decide({"claim": req.claim, "order": json.patch(req.order, [{"op": "replace", "path": "/currency", "value": "BRL"}]), "customer": {"country": "BR"}}, deny, "report").legal_floor
	br.rights[0].missing == ["customer.type"]
}

test_a_brazilian_business_customer_is_for_a_person if {
	s := decide({"claim": req.claim, "order": req.order, "customer": {"type": "business", "country": "BR"}}, deny, "report").legal_floor
	s.jurisdiction == "BR"
	s.rights[0].status == "needs_human"
	s.rights[0].comparison == "indeterminate"
}

test_a_brazilian_consumer_has_withdrawal if {
	claim := object.union(req.claim, {"submitted_at": "2026-07-05T10:00:00Z"})
	s := decide({"claim": claim, "order": req.order, "customer": {"type": "consumer", "country": "BR"}}, deny, "report").legal_floor
	s.rights[0].grants.amount_kind == "at_least"
	s.rights[0].basis == ["BR.CDC.49"]
}

test_every_right_and_status_has_a_text_in_both_languages if {
	every right in ["withdrawal", "conformity", "renewal_termination"] {
		every status in ["applies", "excluded", "outside_window", "needs_facts", "needs_human", "contested", "not_applicable"] {
			c := floor.code({"right": right, "status": status})
			data.messages.en[c] != ""
			data.messages.fr[c] != ""
		}
	}
	data.messages.fr.statutory_floor_review != ""
	data.messages.fr.statutory_floor_applied != ""
}
