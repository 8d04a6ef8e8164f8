package refunds.lib.money_test

import data.refunds.lib.money

lines := [
	{"id": "l1", "kind": "product", "amount": 19900},
	{"id": "l2", "kind": "tax", "amount": 3980},
	{"id": "l3", "kind": "support", "amount": 5000},
]

kinds := {"tax": "tax_not_refundable", "support": "support_not_refundable"}

test_total if {
	money.total(lines) == 28880
	money.total([]) == 0
}

test_settle_withholds_by_kind if {
	money.settle(lines, kinds) == {
		"amount": 19900,
		"withheld": [
			{"line_id": "l2", "amount": 3980, "code": "tax_not_refundable"},
			{"line_id": "l3", "amount": 5000, "code": "support_not_refundable"},
		],
	}
}

test_settle_without_withheld_kinds_refunds_everything if {
	money.settle(lines, {}) == {"amount": 28880, "withheld": []}
}

test_prorate_rounds_down if {
	money.prorate(19900, 11, 12) == 18241 # 18241.66...
	money.prorate(100, 1, 3) == 33
	money.prorate(12, 12, 12) == 12
	money.prorate(11, 1, 12) == 0
}

test_prorate_clamps_remaining if {
	money.prorate(1200, 13, 12) == 1200
	money.prorate(1200, -2, 12) == 0
}

test_settle_prorated if {
	money.settle_prorated(lines, kinds, 10, 12, "elapsed") == {
		"amount": 16583,
		"withheld": [
			{"line_id": "l2", "amount": 3980, "code": "tax_not_refundable"},
			{"line_id": "l3", "amount": 5000, "code": "support_not_refundable"},
			{"line_id": "l1", "amount": 3317, "code": "elapsed"},
		],
	}
}

test_settle_prorated_full_period_withholds_nothing_more if {
	money.settle_prorated([{"id": "l1", "kind": "product", "amount": 600}], kinds, 12, 12, "elapsed") == {"amount": 600, "withheld": []}
}
