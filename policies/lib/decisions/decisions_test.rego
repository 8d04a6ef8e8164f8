package refunds.lib.decisions_test

import data.refunds.lib.decisions

messages := {
	"r1": "Reason one.",
	"r2": "Reason two.",
	"o1": "Obligation one.",
	"deactivate": "Deactivate.",
	"order_not_paid": "Not paid.",
}

lines := [
	{"id": "l1", "kind": "product", "amount": 1000},
	{"id": "l2", "kind": "tax", "amount": 200},
]

params := {"withheld_kinds": {"tax": "tax_not_refundable"}, "refund_obligations": ["deactivate"]}

test_unpaid if {
	decisions.unpaid("EUR", messages) == {
		"outcome": "approve",
		"remedy": "cancel_order",
		"refund": {"amount": 0, "currency": "EUR", "withheld": []},
		"reasons": [{"code": "order_not_paid", "message": "Not paid."}],
		"obligations": [],
	}
}

test_verdict_without_money if {
	decisions.assemble(decisions.verdict("refer", "support", ["r1", "r2"], ["o1"]), lines, "EUR", params, messages) == {
		"outcome": "refer",
		"remedy": "support",
		"refund": {"amount": 0, "currency": "EUR", "withheld": []},
		"reasons": [{"code": "r1", "message": "Reason one."}, {"code": "r2", "message": "Reason two."}],
		"obligations": [{"code": "o1", "message": "Obligation one."}],
	}
}

test_deny if {
	decisions.deny("r1") == decisions.verdict("deny", "none", ["r1"], [])
}

test_refund_of_everything_is_approve if {
	decisions.assemble(decisions.refund("refund", ["r1"], ["o1"]), [lines[0]], "EUR", params, messages) == {
		"outcome": "approve",
		"remedy": "refund",
		"refund": {"amount": 1000, "currency": "EUR", "withheld": []},
		"reasons": [{"code": "r1", "message": "Reason one."}],
		"obligations": [{"code": "o1", "message": "Obligation one."}, {"code": "deactivate", "message": "Deactivate."}],
	}
}

test_refund_with_withheld_is_partial if {
	d := decisions.assemble(decisions.refund("exchange", ["r1"], []), lines, "EUR", params, messages)
	d.outcome == "partial"
	d.remedy == "exchange"
	d.refund == {"amount": 1000, "currency": "EUR", "withheld": [{"line_id": "l2", "amount": 200, "code": "tax_not_refundable"}]}
}

test_refund_with_nothing_left_is_deny if {
	d := decisions.assemble(decisions.refund("refund", ["r1"], []), [lines[1]], "EUR", params, messages)
	d.outcome == "deny"
	d.remedy == "none"
	d.refund.amount == 0
	d.obligations == []
}

test_prorated_refund if {
	d := decisions.assemble(decisions.prorated_refund(3, 12, ["r1"]), lines, "EUR", params, messages)
	d.outcome == "partial"
	d.refund == {"amount": 250, "currency": "EUR", "withheld": [
		{"line_id": "l2", "amount": 200, "code": "tax_not_refundable"},
		{"line_id": "l1", "amount": 750, "code": "elapsed_months_not_refundable"},
	]}
}

test_params_are_optional if {
	d := decisions.assemble(decisions.refund("refund", ["r1"], []), lines, "USD", {}, messages)
	d.outcome == "approve"
	d.refund == {"amount": 1200, "currency": "USD", "withheld": []}
	d.obligations == []
}

test_unknown_code_leaves_the_decision_undefined if {
	not decisions.assemble(decisions.deny("no_such_code"), lines, "EUR", params, messages)
}

test_unknown_grant_leaves_the_decision_undefined if {
	not decisions.assemble(object.union(decisions.deny("r1"), {"grant": "gift"}), lines, "EUR", params, messages)
}
