# METADATA
# title: Statutory floor
# description: |
#   Beside the merchant's decision, what consumer law grants for the claim
#   (the legal_floor section) and whether the decision falls below it; the
#   merchant's floor mode then reports it (report), refers such claims to a
#   person (refer) or applies the law's grant where it is determinate
#   (enforce). Pure functions of the request, the merchant's decision, the
#   merchant's floor data and the message catalog.
package refunds.floor

import data.refunds.floor.br
import data.refunds.floor.facts
import data.refunds.floor.fr
import data.refunds.lib.decisions

# METADATA
# description: |
#   The decision to answer - the merchant's decision md for request req,
#   with its legal_floor section and the merchant's mode applied. cfg is
#   the merchant's floor data (countries, checkout, mode); messages maps
#   codes to texts.
apply(md, req, cfg, messages) := md if {
	mode(cfg) == "off"
} else := enforced(md, req, s, messages) if {
	mode(cfg) == "enforce"
	s := section(req, md, cfg, messages)
	count(enforceable(s)) > 0
} else := referred(md, s, messages) if {
	mode(cfg) in {"refer", "enforce"}
	s := section(req, md, cfg, messages)
	s.comparison == "below"
} else := object.union(md, {"legal_floor": section(req, md, cfg, messages)})

# METADATA
# description: The merchant's floor mode, report by default.
mode(cfg) := object.get(cfg, "mode", "report")

# METADATA
# description: The legal_floor section of contract section 6.4.
section(req, md, cfg, messages) := {
	"version": data.floor.version,
	"mode": mode(cfg),
	"jurisdiction": jurisdiction(req, cfg),
	"comparison": overall(rs),
	"shortfall": shortfall(rs, md),
	"rights": rs,
} if {
	rs := [explain(compare(r, md), messages) | some r in rights(req, md, cfg)]
}

# METADATA
# description: The customer's country when the merchant directs its activity there and this version models its law, else null.
jurisdiction(req, cfg) := country if {
	country := req.customer.country
	country in object.get(cfg, "countries", [])
	country in {"FR", "BR"}
} else := null

# METADATA
# description: |
#   The rights that concern the claim. Consumers have them; a French business
#   customer has none; a Brazilian business customer may be a consumer (the
#   final recipient), which a person decides; an unknown customer type
#   needs that fact.
rights(req, md, cfg) := fr.rights(req, md, cfg) if {
	jurisdiction(req, cfg) == "FR"
	req.customer.type == "consumer"
} else := [] if {
	jurisdiction(req, cfg) == "FR"
	req.customer.type == "business"
} else := [object.union(r, {"status": "needs_facts", "missing": ["customer.type"]}) | some r in fr.rights(req, md, cfg)] if {
	jurisdiction(req, cfg) == "FR"
} else := br.rights(req) if {
	jurisdiction(req, cfg) == "BR"
	req.customer.type == "consumer"
} else := [object.union(r, {"status": "needs_human", "missing": []}) | some r in br.rights(req)] if {
	jurisdiction(req, cfg) == "BR"
	req.customer.type == "business"
} else := [object.union(r, {"status": "needs_facts", "missing": ["customer.type"]}) | some r in br.rights(req)] if {
	jurisdiction(req, cfg) == "BR"
} else := []

# METADATA
# description: |
#   A right's comparison with the decision - below when it applies and the
#   decision refunds less than it grants, or imposes the remedy the consumer
#   did not choose; meets when it applies otherwise; indeterminate while
#   facts or a person are needed; not_applicable for the other statuses.
compare(r, md) := object.union(object.remove(r, ["overridden"]), {"comparison": "below"}) if {
	r.status == "applies"
	below(r, md)
} else := object.union(object.remove(r, ["overridden"]), {"comparison": "meets"}) if {
	r.status == "applies"
} else := object.union(object.remove(r, ["overridden"]), {"comparison": "indeterminate"}) if {
	r.status in {"needs_facts", "needs_human", "contested"}
} else := object.union(object.remove(r, ["overridden"]), {"comparison": "not_applicable"})

# METADATA
# description: The decision falls below what the right grants.
below(r, md) if {
	r.grants.remedy == "refund"
	md.refund.amount < r.grants.amount
}

below(r, _) if r.overridden == true

# METADATA
# description: The right's code and its text - floor_<right> when it applies, floor_<right>_<status> otherwise.
explain(r, messages) := object.union(r, {"code": c, "message": messages[c]}) if {
	c := code(r)
}

# METADATA
# description: The code of a right in its status.
code(r) := sprintf("floor_%s", [r.right]) if r.status == "applies"

else := sprintf("floor_%s_%s", [r.right, r.status])

# METADATA
# description: The section's comparison - below if any right is, else indeterminate if any is, else meets if any right applies.
overall(rs) := "below" if {
	some r in rs
	r.comparison == "below"
} else := "indeterminate" if {
	some r in rs
	r.comparison == "indeterminate"
} else := "meets" if {
	some r in rs
	r.comparison == "meets"
} else := "not_applicable"

# METADATA
# description: The largest money gap of a right that is below with an exact grant, 0 when none is.
shortfall(rs, md) := max(array.concat([0], [(r.grants.amount - md.refund.amount) |
	some r in rs
	r.comparison == "below"
	r.grants.remedy == "refund"
	r.grants.amount_kind == "exact"
]))

# METADATA
# description: A withdrawal or renewal_termination right that applies, is invoked, is below and grants an exact amount.
enforceable(s) := [r |
	some r in s.rights
	r.right in {"withdrawal", "renewal_termination"}
	r.status == "applies"
	r.invoked == true
	r.comparison == "below"
	r.grants.amount_kind == "exact"
]

# METADATA
# description: |
#   The law's grant applied (mode enforce) - approve, refund of the largest
#   enforceable grant (never more than was paid for the claimed lines),
#   first reason statutory_floor_applied; the merchant's decision is kept.
enforced(md, req, s, messages) := {
	"outcome": "approve",
	"remedy": "refund",
	"refund": {"amount": amount, "currency": md.refund.currency, "withheld": []},
	"reasons": array.concat(decisions.explained(["statutory_floor_applied"], messages), md.reasons),
	"obligations": [],
	"legal_floor": object.union(s, {"merchant_decision": md}),
} if {
	count(enforceable(s)) > 0
	amount := min([max([r.grants.amount | some r in enforceable(s)]), facts.paid(req)])
}

# METADATA
# description: The claim referred to a person because the decision falls below the floor (mode refer); the merchant's decision is kept.
referred(md, s, messages) := {
	"outcome": "refer",
	"remedy": "support",
	"refund": {"amount": 0, "currency": md.refund.currency, "withheld": []},
	"reasons": array.concat(decisions.explained(["statutory_floor_review"], messages), md.reasons),
	"obligations": [],
	"legal_floor": object.union(s, {"merchant_decision": md}),
}
