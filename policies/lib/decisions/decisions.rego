# METADATA
# title: Decision assembly
# description: |
#   Builds the decision document of contract section 3 from a merchant's
#   verdict. A verdict is an object made by one of the constructors below:
#   grant "none" (no money moves), "lines" (the claimed lines are refunded,
#   less the merchant's withheld kinds) or "prorated" (the same, prorated).
#   For a money verdict the outcome follows from the money: approve when
#   nothing is withheld, partial when some is, deny when nothing is left.
package refunds.lib.decisions

import data.refunds.lib.money

# METADATA
# description: A verdict that moves no money.
verdict(outcome, remedy, reasons, obligations) := {
	"grant": "none",
	"outcome": outcome,
	"remedy": remedy,
	"reasons": reasons,
	"obligations": obligations,
}

# METADATA
# description: A deny with one reason, remedy none and no obligation.
deny(reason) := verdict("deny", "none", [reason], [])

# METADATA
# description: A verdict that refunds the claimed lines (less withheld kinds) under remedy.
refund(remedy, reasons, obligations) := {
	"grant": "lines",
	"remedy": remedy,
	"reasons": reasons,
	"obligations": obligations,
}

# METADATA
# description: A verdict that refunds remaining/period of the claimed lines.
prorated_refund(remaining, period, reasons) := {
	"grant": "prorated",
	"remedy": "refund",
	"remaining": remaining,
	"period": period,
	"reasons": reasons,
	"obligations": [],
}

# METADATA
# description: |
#   The decision for an unpaid order: it is cancelled, nothing is refunded.
#   This comes before every merchant rule.
unpaid(currency, messages) := assemble(verdict("approve", "cancel_order", ["order_not_paid"], []), [], currency, {}, messages)

# METADATA
# description: |
#   The decision document for verdict over the claimed lines. params may hold
#   withheld_kinds (kind -> withheld code) and refund_obligations (codes added
#   whenever money goes back). messages maps every code to its text; a code
#   without a text leaves the decision undefined rather than unexplained.
assemble(verdict, lines, currency, params, messages) := {
	"outcome": verdict.outcome,
	"remedy": verdict.remedy,
	"refund": {"amount": 0, "currency": currency, "withheld": []},
	"reasons": explained(verdict.reasons, messages),
	"obligations": explained(verdict.obligations, messages),
} if {
	verdict.grant == "none"
} else := {
	"outcome": outcome(verdict, settled),
	"remedy": remedy(verdict, settled),
	"refund": {"amount": settled.amount, "currency": currency, "withheld": settled.withheld},
	"reasons": explained(verdict.reasons, messages),
	"obligations": explained(array.concat(verdict.obligations, refund_obligations(settled, params)), messages),
} if {
	settled := settlement(verdict, lines, object.get(params, "withheld_kinds", {}))
}

# METADATA
# description: Codes with their messages, in order; undefined if a code has no message.
explained(codes, messages) := out if {
	out := [{"code": code, "message": messages[code]} | some code in codes]
	count(out) == count(codes)
}

# METADATA
# description: The money a verdict moves, with what is withheld.
settlement(verdict, lines, withheld_kinds) := money.settle(lines, withheld_kinds) if {
	verdict.grant == "lines"
} else := money.settle_prorated(lines, withheld_kinds, verdict.remaining, verdict.period, "elapsed_months_not_refundable") if {
	verdict.grant == "prorated"
} else := {"amount": 0, "withheld": []} if {
	verdict.grant == "none"
}

# METADATA
# description: The outcome; for a money verdict it follows from what is refunded and withheld.
outcome(verdict, settled) := verdict.outcome if {
	verdict.grant == "none"
} else := "approve" if {
	count(settled.withheld) == 0
} else := "partial" if {
	settled.amount > 0
} else := "deny"

# METADATA
# description: The remedy; a money verdict that leaves nothing to refund has remedy none.
remedy(verdict, settled) := "none" if {
	verdict.grant != "none"
	settled.amount == 0
	count(settled.withheld) > 0
} else := verdict.remedy

# METADATA
# description: The merchant's refund obligations when money goes back, else none.
refund_obligations(settled, params) := object.get(params, "refund_obligations", []) if {
	settled.amount > 0
} else := []
