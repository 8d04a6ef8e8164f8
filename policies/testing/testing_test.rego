# METADATA
# description: |
#   Helpers for merchant tests: a decision with its codes but without message
#   texts (the texts are tested once, in refunds.messages_test).
package refunds.testing

summary(d) := {
	"outcome": d.outcome,
	"remedy": d.remedy,
	"refund": d.refund,
	"reasons": [r.code | some r in d.reasons],
	"obligations": [o.code | some o in d.obligations],
}

# Expected summary for a decision that moves no money.
no_money(outcome, remedy, reasons, obligations, currency) := {
	"outcome": outcome,
	"remedy": remedy,
	"refund": {"amount": 0, "currency": currency, "withheld": []},
	"reasons": reasons,
	"obligations": obligations,
}
