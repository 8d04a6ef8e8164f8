package refunds.floor.br_test

import data.refunds.floor.br

base := {
	"claim": {"submitted_at": "2026-04-14T10:00:00Z", "reason": "change_of_mind"},
	"order": {
		"placed_at": "2026-04-10T10:00:00Z", "paid_at": "2026-04-10T10:00:00Z", "currency": "BRL",
		"lines": [{"id": "l1", "kind": "product", "product_type": "digital_service", "amount": 5000}],
	},
}

withdrawal(patch) := br.withdrawal(object.union(base, patch))

test_seven_days_to_the_end_of_the_last_day_in_sao_paulo_with_no_move if {
	w := withdrawal({"claim": {"submitted_at": "2026-04-18T02:59:59Z"}})
	w.status == "applies"
	w.window == {"start": "2026-04-10T10:00:00Z", "last_day": "2026-04-17", "ends_at": "2026-04-18T02:59:59Z"}
	w.grants == {"remedy": "refund", "amount": 5000, "amount_kind": "at_least"}
	withdrawal({"claim": {"submitted_at": "2026-04-18T03:00:00Z"}}).status == "outside_window"

	# A last day on a Saturday does not move: placed Saturday 04-04, day 7 is Saturday 04-11.
	withdrawal({"order": {"placed_at": "2026-04-04T10:00:00Z"}}).window.last_day == "2026-04-11"
}

test_the_period_runs_from_the_later_of_contract_and_receipt if {
	withdrawal({"order": {"delivered_at": "2026-04-12T10:00:00Z"}}).window.start == "2026-04-12T10:00:00Z"
	withdrawal({"order": {"delivered_at": "2026-04-09T10:00:00Z"}}).window.start == "2026-04-10T10:00:00Z"
}

test_goods_not_received_are_open if {
	w := withdrawal({"order": {"lines": [{"id": "l1", "kind": "product", "product_type": "physical_good", "amount": 5000}]}})
	w.status == "applies"
	w.window.ends_at == null
}

code := {"order": {"lines": [{"id": "l1", "kind": "product", "product_type": "saas_code", "amount": 5000}]}}

test_a_redeemed_code_is_contested_and_an_unknown_one_needs_the_fact if {
	withdrawal(object.union(code, {"order": {"digital_redeemed_at": "2026-04-11T10:00:00Z"}})).status == "contested"
	w := withdrawal(code)
	w.status == "needs_facts"
	w.missing == ["order.digital_redeemed_at"]
	withdrawal(object.union(code, {"order": {"digital_redeemed_at": null}})).status == "applies"
}

test_a_withdrawal_statement_is_invoked if {
	withdrawal({"claim": {"withdrawal": true}}).invoked == true
	withdrawal({}).invoked == false
}
