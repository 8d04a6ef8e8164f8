package refunds.lib.claims_test

import data.refunds.lib.claims

order := {
	"paid_at": "2026-03-01T10:00:00Z",
	"lines": [{"id": "l1", "kind": "product", "amount": 100}, {"id": "l2", "kind": "tax", "amount": 20}],
}

test_paid if {
	claims.paid(order)
	not claims.paid({"lines": []})
	not claims.paid({"paid_at": null})
}

test_claimed_lines_default_to_every_line if {
	claims.claimed_lines(order, {}) == order.lines
	claims.claimed_lines(order, {"line_ids": null}) == order.lines
}

test_claimed_lines_select_by_id_once_each if {
	claims.claimed_lines(order, {"line_ids": ["l2", "l2"]}) == [{"id": "l2", "kind": "tax", "amount": 20}]
}

test_issue_reported_at_defaults_to_submitted_at if {
	claims.issue_reported_at({"submitted_at": "2026-03-10T00:00:00Z"}) == "2026-03-10T00:00:00Z"
	claims.issue_reported_at({"submitted_at": "2026-03-10T00:00:00Z", "issue_reported_at": "2026-03-02T00:00:00Z"}) == "2026-03-02T00:00:00Z"
}

test_last_payment_at if {
	claims.last_payment_at({"order": order}) == "2026-03-01T10:00:00Z"
	claims.last_payment_at({"order": order, "subscription": {"last_payment_at": "2026-02-01T00:00:00Z"}}) == "2026-02-01T00:00:00Z"
}

test_delivered_at if {
	claims.delivered_at(order) == "2026-03-01T10:00:00Z"
	claims.delivered_at(object.union(order, {"delivered_at": "2026-03-03T15:00:00Z"})) == "2026-03-03T15:00:00Z"
}

test_flag if {
	claims.flag(true)
	not claims.flag(false)
}
