# METADATA
# title: Statutory floor, Brazil
# description: |
#   What the Código de Defesa do Consumidor grants a consumer for a claim:
#   withdrawal within 7 days of the contract or of receipt (CDC art. 49),
#   with no exception; a code or licence already redeemed is contested.
#   Pure functions of the request; the law's parameters are in data.floor.br.
package refunds.floor.br

import data.refunds.floor.facts
import data.refunds.floor.periods

law := data.floor.br

# METADATA
# description: The rights that concern the claim.
rights(req) := [withdrawal(req)]

# METADATA
# description: |
#   Withdrawal (CDC art. 49) - 7 days from the later of the contract and the
#   receipt, the start day not counted, to the end of the last day in
#   America/Sao_Paulo, with no move. Goods not yet received - the window is
#   open. The grant is at least the refund of everything paid (monetary
#   correction is not computed).
withdrawal(req) := object.union(base(req), {"window": {"start": null, "last_day": null, "ends_at": null}, "status": "applies", "missing": [], "grants": grant(req)}) if {
	"physical_good" in facts.types(req)
	not facts.present(req.order, "delivered_at")
} else := object.union(base(req), {"window": window(p, start), "status": "outside_window", "missing": []}) if {
	start := start_event(req)
	p := period(start)
	not periods.within(req.claim.submitted_at, p.last_day, law.time_zone)
} else := object.union(base(req), object.union({"window": window(p, start), "grants": grant(req)}, redemption(req))) if {
	start := start_event(req)
	p := period(start)
}

# METADATA
# description: What every withdrawal right reports.
base(req) := {"right": "withdrawal", "invoked": invoked(req), "basis": law.basis.withdrawal}

# METADATA
# description: The customer made an unequivocal withdrawal statement.
default invoked(_) := false

invoked(req) if req.claim.withdrawal == true

# METADATA
# description: The later of placed_at and delivered_at.
start_event(req) := req.order.delivered_at if {
	facts.present(req.order, "delivered_at")
	facts.ns(req.order.delivered_at) > facts.ns(req.order.placed_at)
} else := req.order.placed_at

# METADATA
# description: The 7-day period after the start day.
period(start) := periods.after(periods.local_date(facts.ns(start), law.time_zone), law.withdrawal_days, law.holidays, false)

# METADATA
# description: The window reported for a period.
window(p, start) := {"start": start, "last_day": p.last_day, "ends_at": periods.ends_at(p.last_day, law.time_zone)}

# METADATA
# description: At least everything paid for the claimed lines.
grant(req) := {"remedy": "refund", "amount": facts.paid(req), "amount_kind": "at_least"}

# METADATA
# description: |
#   A code or licence that was redeemed (order.digital_redeemed_at a time)
#   makes the right contested; unknown (absent) needs the fact; null (not
#   redeemed), or no code or licence, leaves it applying.
redemption(req) := {"status": "contested", "missing": []} if {
	some t in facts.types(req)
	t in {"saas_code", "software_license"}
	facts.present(req.order, "digital_redeemed_at")
} else := {"status": "needs_facts", "missing": ["order.digital_redeemed_at"]} if {
	some t in facts.types(req)
	t in {"saas_code", "software_license"}
	not "digital_redeemed_at" in object.keys(req.order)
} else := {"status": "applies", "missing": []}
