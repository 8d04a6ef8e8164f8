# METADATA
# title: Statutory floor, France
# description: |
#   What the French Code de la consommation grants a consumer for a claim:
#   withdrawal (L221-18 to L221-28), the legal guarantee of conformity (goods
#   L217-3 to L217-14, digital content and services L224-25-12 and following)
#   and the free termination of a tacitly renewed contract (L215-1). Pure
#   functions of the request, the merchant's decision and the merchant's
#   floor data; the law's parameters are in data.floor.fr.
package refunds.floor.fr

import data.refunds.floor.facts
import data.refunds.floor.periods
import data.refunds.lib.claims
import data.refunds.lib.dates

law := data.floor.fr

# METADATA
# description: The rights that concern the claim, in the order withdrawal, conformity, renewal_termination.
rights(req, md, cfg) := array.concat(array.concat([withdrawal(req, cfg)], conformity(req, md)), renewal_termination(req))

# METADATA
# description: The claim is for goods (a claimed line is a physical_good).
goods(req) if "physical_good" in facts.types(req)

# METADATA
# description: The claim is for services (a digital_service or a subscription, and no goods).
services(req) if {
	not goods(req)
	some t in facts.types(req)
	t in {"digital_service", "subscription"}
}

# METADATA
# description: The claim is for digital content (a saas_code or software_license, neither goods nor services).
digital_content(req) if {
	not goods(req)
	not services(req)
	some t in facts.types(req)
	t in {"saas_code", "software_license"}
}

# METADATA
# description: When the goods or content were supplied, delivered_at else paid_at.
supply(req) := req.order.delivered_at if facts.present(req.order, "delivered_at")

else := req.order.paid_at

# METADATA
# description: The customer made an unequivocal withdrawal statement.
default invoked_withdrawal(_) := false

invoked_withdrawal(req) if req.claim.withdrawal == true

# METADATA
# description: |
#   The withdrawal right (L221-18): 14 days from delivery for goods, from the
#   contract otherwise, moved past non-working days (L221-19); extended by
#   12 months when the information was not given (L221-20); the exceptions
#   of L221-28 for digital content and services. A tacitly renewed
#   subscription opens no new period: renewal_termination covers it.
withdrawal(req, cfg) := {
	"right": "withdrawal", "status": "not_applicable", "invoked": invoked_withdrawal(req),
	"missing": [], "basis": law.basis.withdrawal,
} if {
	req.subscription.auto_renewed == true
} else := with_grant(
	req, {
		"right": "withdrawal", "status": "applies", "invoked": invoked_withdrawal(req),
		"window": {"start": null, "last_day": null, "ends_at": null}, "missing": [], "basis": law.basis.withdrawal,
	},
	"exact",
) if {
	goods(req)
	not facts.present(req.order, "delivered_at")
} else := dated_withdrawal(req, cfg)

# METADATA
# description: The withdrawal right once its start event is known.
dated_withdrawal(req, cfg) := with_status(req, base, status(submitted, inf, p, exc), exc) if {
	inf := info(req, cfg)
	initial := periods.after(periods.local_date(facts.ns(withdrawal_start(req)), law.time_zone), law.withdrawal_days, law.holidays, true)
	p := period(inf, initial)
	submitted := periods.local_date(facts.ns(req.claim.submitted_at), law.time_zone)
	exc := exception(req, cfg)
	base := {"right": "withdrawal", "invoked": invoked_withdrawal(req), "window": window(req, p), "basis": basis(p)}
}

# METADATA
# description: The start event of the withdrawal period.
withdrawal_start(req) := req.order.delivered_at if goods(req)

else := req.order.placed_at

# METADATA
# description: |
#   The initial period extended by 12 months (L221-20), counted only where
#   a rule needs it: most claims fall within the initial period.
extended(initial) := periods.ending(periods.add_months(initial.last_day, law.withdrawal_extension_months), law.holidays, true)

# METADATA
# description: 14 days from the day the information was given late.
late_period(given) := periods.after(periods.local_date(facts.ns(given), law.time_zone), law.withdrawal_days, law.holidays, true)

# METADATA
# description: |
#   Whether the withdrawal information was given: order.withdrawal_info_given_at
#   (a time: given then; null: not given), else the merchant's checkout
#   fact withdrawal_info (given, not_given, unknown by default).
info(req, cfg) := {"state": "given", "at": req.order.withdrawal_info_given_at} if {
	facts.present(req.order, "withdrawal_info_given_at")
} else := {"state": "not_given"} if {
	"withdrawal_info_given_at" in object.keys(req.order)
} else := {"state": object.get(cfg, ["checkout", "withdrawal_info"], "unknown")}

# METADATA
# description: |
#   The period that applies - the initial one when the information was
#   given by its end (or is unknown), else the extended one, cut to 14 days
#   after late information when that is earlier (L221-20).
period(inf, initial) := object.union(initial, {"extended": false}) if {
	inf.state == "given"
	not inf.at
} else := object.union(initial, {"extended": false}) if {
	inf.state == "given"
	periods.within(inf.at, initial.last_day, law.time_zone)
} else := object.union(earlier(extended(initial), late_period(inf.at)), {"extended": true}) if {
	inf.state == "given"
} else := object.union(extended(initial), {"extended": true}) if {
	inf.state == "not_given"
} else := object.union(initial, {"extended": false})

# METADATA
# description: Of two periods, the one that ends first.
earlier(a, b) := a if a.last_day <= b.last_day

else := b

# METADATA
# description: The window reported for a period.
window(req, p) := {"start": withdrawal_start(req), "last_day": p.last_day, "ends_at": periods.ends_at(p.last_day, law.time_zone)}

# METADATA
# description: The articles the withdrawal right rests on.
basis(p) := law.basis.withdrawal_extended if p.extended

else := law.basis.withdrawal

# METADATA
# description: The withdrawal status and the facts it misses, from the local date of the claim.
status(submitted, inf, p, exc) := {"status": "outside_window", "missing": []} if {
	inf.state == "unknown"
	submitted > p.last_day # p is the initial period, which ends before the extended one
	submitted > extended(p).last_day
} else := {"status": "outside_window", "missing": []} if {
	inf.state != "unknown"
	submitted > p.last_day
} else := {"status": "excluded", "missing": []} if {
	exc.result == "excluded"
} else := {"status": "needs_facts", "missing": missing} if {
	missing := sort(array.concat(info_missing(submitted, inf, p), object.get(exc, "missing", [])))
	count(missing) > 0
} else := {"status": "applies", "missing": []}

# METADATA
# description: The information is unknown and the claim falls in the extension - whether it was given decides.
info_missing(submitted, inf, p) := ["order.withdrawal_info_given_at"] if {
	inf.state == "unknown"
	submitted > p.last_day
} else := []

# METADATA
# description: The right with its status; what it grants when it applies or may.
with_status(req, base, st, exc) := with_grant(req, object.union(base, st), object.get(exc, "amount_kind", "exact")) if {
	st.status in {"applies", "needs_facts"}
} else := object.union(base, st)

# METADATA
# description: A right that grants the refund of everything paid for the claimed lines.
with_grant(req, right, kind) := object.union(right, {"grants": {"remedy": "refund", "amount": facts.paid(req), "amount_kind": kind}})

# METADATA
# description: The merchant's checkout fact consent_flow (true, false, or null when unknown).
consent_flow(cfg) := object.get(cfg, ["checkout", "consent_flow"], null)

# METADATA
# description: The request's order.immediate_performance, {} when absent.
performance(req) := object.get(req.order, "immediate_performance", {})

# METADATA
# description: The named facts of order.immediate_performance that the request lacks.
missing_facts(req, names) := [sprintf("order.immediate_performance.%s", [f]) | some f in names; object.get(performance(req), f, null) == null]

# METADATA
# description: |
#   The exception of L221-28 the claim falls under: {"result": "excluded"},
#   {"result": "not_met"} (with amount_kind upper_bound when a service was
#   partly performed with consent), or {"result": "unknown", "missing"}.
exception(req, cfg) := digital_exception(req, cfg) if {
	digital_content(req)
} else := service_exception(req, cfg) if {
	services(req)
} else := {"result": "not_met"}

# METADATA
# description: Digital content - excluded with prior express consent, its acknowledgment and their confirmation.
digital_exception(req, cfg) := {"result": "excluded"} if {
	count(missing_facts(req, ["consent_at", "loss_acknowledged", "confirmation_sent_at"])) == 0
	performance(req).loss_acknowledged == true
	is_string(supply(req))
	facts.ns(performance(req).consent_at) <= facts.ns(supply(req))
} else := {"result": "not_met"} if {
	count(missing_facts(req, ["consent_at", "loss_acknowledged", "confirmation_sent_at"])) == 0
} else := {"result": "not_met"} if {
	consent_flow(cfg) == false
} else := {"result": "unknown", "missing": missing_facts(req, ["consent_at", "loss_acknowledged", "confirmation_sent_at"])}

# METADATA
# description: Services - excluded once fully performed with consent and acknowledgment; partly performed, the consumer owes a share.
service_exception(req, cfg) := {"result": "excluded"} if {
	consented(req)
	facts.present(req.order, "performance_completed_at")
	facts.ns(req.order.performance_completed_at) <= facts.ns(req.claim.submitted_at)
} else := {"result": "not_met", "amount_kind": "upper_bound"} if {
	consented(req)
} else := {"result": "not_met"} if {
	count(missing_facts(req, ["consent_at", "loss_acknowledged"])) == 0
} else := {"result": "not_met"} if {
	consent_flow(cfg) == false
} else := {"result": "unknown", "missing": missing_facts(req, ["consent_at", "loss_acknowledged"])}

# METADATA
# description: The consumer consented to immediate performance and acknowledged losing the right.
consented(req) if {
	is_string(performance(req).consent_at)
	performance(req).loss_acknowledged == true
}

# METADATA
# description: |
#   The legal guarantee of conformity, for claims of a defect: goods
#   (L217-3, the consumer's choice of repair or replacement L217-9), digital
#   content and services (L224-25-12, refund when bringing them into
#   conformity failed L224-25-20).
conformity(req, md) := [] if {
	not req.claim.reason in {"defective", "not_working", "not_as_described"}
} else := [goods_conformity(req, md)] if {
	goods(req)
} else := [digital_conformity(req, md, subscription_window(req))] if {
	"subscription" in facts.types(req)
} else := [digital_conformity(req, md, supply_window(req))] if {
	some t in facts.types(req)
	t in {"saas_code", "software_license", "digital_service"}
} else := []

# METADATA
# description: When the defect appeared (issue_reported_at, else submitted_at).
appeared(req) := claims.issue_reported_at(req.claim)

# METADATA
# description: Whether the defect appeared within 2 years of supply, as {"status"[, "missing"]}.
supply_window(req) := {"status": "needs_facts", "missing": ["order.delivered_at"]} if {
	not facts.present(req.order, "delivered_at")
	not facts.present(req.order, "paid_at")
} else := {"status": "in"} if {
	dates.within_years(appeared(req), supply(req), law.conformity_years)
} else := {"status": "outside_window"}

# METADATA
# description: Whether the defect appeared within the subscription's supply period.
subscription_window(req) := {"status": "needs_facts", "missing": ["subscription.period_end", "subscription.period_start"]} if {
	not facts.present(object.get(req, "subscription", {}), "period_start")
} else := {"status": "needs_facts", "missing": ["subscription.period_end", "subscription.period_start"]} if {
	not facts.present(req.subscription, "period_end")
} else := {"status": "in"} if {
	facts.ns(req.subscription.period_start) <= facts.ns(appeared(req))
	facts.ns(appeared(req)) <= facts.ns(req.subscription.period_end)
} else := {"status": "outside_window"}

# METADATA
# description: The merchant's decision concedes the defect (it grants a remedy the customer does not pay for).
concedes(md) if {
	md.outcome in {"approve", "partial"}
	not md.remedy in {"none", "support", "paid_repair"}
}

# METADATA
# description: The conformity status from the period and the merchant's decision; a person judges a defect the merchant does not concede.
conformity_status(win, md) := {"status": win.status, "missing": object.get(win, "missing", [])} if {
	win.status != "in"
} else := {"status": "applies", "missing": []} if {
	concedes(md)
} else := {"status": "needs_human", "missing": []}

# METADATA
# description: A ground of the merchant that the law does not recognise against this right.
ground(md) := {"code": md.reasons[0].code, "recognised": false} if {
	md.reasons[0].code in {"payment_dispute_open", "warranty_expired", "refund_window_expired", "guarantee_expired", "misuse_not_covered"}
}

# METADATA
# description: A conformity right, with the merchant's unrecognised ground when there is one.
with_ground(right, md) := object.union(right, {"merchant_ground": ground(md)}) if {
	right.status != "outside_window"
	ground(md)
} else := right

# METADATA
# description: Conformity of goods - the consumer's choice between repair and replacement stands unless the chosen one is impossible.
goods_conformity(req, md) := with_ground(
	object.union(
		object.union({"right": "conformity", "invoked": true, "basis": law.basis.conformity_goods, "grants": goods_grant(req, md), "overridden": overridden(req, md)}, st),
		presumption(req),
	),
	md,
) if {
	st := conformity_status(supply_window(req), md)
}

# METADATA
# description: The presumption that a defect existed at delivery runs 24 months (12 for second-hand goods).
presumption(req) := {"presumption_until": periods.add_months(periods.local_date(facts.ns(supply(req)), law.time_zone), presumption_months(req))} if {
	is_string(supply(req))
} else := {}

# METADATA
# description: 24 months, 12 for goods sold second-hand.
presumption_months(req) := law.presumption_months_second_hand if req.item.second_hand == true

else := law.presumption_months

# METADATA
# description: What conformity of goods grants - the remedy the consumer chose, else the merchant's.
goods_grant(req, md) := {"remedy": req.claim.remedy, "amount": 0, "amount_kind": "exact"} if {
	req.claim.remedy in {"repair", "replacement"}
} else := {"remedy": md.remedy, "amount": md.refund.amount, "amount_kind": "exact"}

# METADATA
# description: The merchant imposed the other of repair and replacement, without finding the chosen one impossible.
default overridden(_, _) := false

overridden(req, md) if {
	req.claim.remedy in {"repair", "replacement"}
	md.remedy in {"repair", "replacement"}
	md.remedy != req.claim.remedy
	md.reasons[0].code != "repair_impossible"
}

# METADATA
# description: Conformity of digital content and services - a failed attempt to bring them into conformity opens a refund.
digital_conformity(req, md, win) := with_ground(
	object.union(
		{"right": "conformity", "invoked": true, "basis": law.basis.conformity_digital, "grants": digital_grant(req, md), "overridden": false},
		conformity_status(win, md),
	),
	md,
)

# METADATA
# description: |
#   The refund of everything paid for the claimed lines, tax included; for a
#   subscription, the last payment's share from when the defect appeared to
#   the end of the period, rounded up. Without a failed attempt, the remedy
#   the merchant gave.
digital_grant(req, md) := {"remedy": "refund", "amount": subscription_share(req), "amount_kind": "exact"} if {
	req.claim.support_unresolved == true
	"subscription" in facts.types(req)
	facts.present(req.subscription, "period_start")
	facts.present(req.subscription, "period_end")
} else := {"remedy": "refund", "amount": facts.paid(req), "amount_kind": "exact"} if {
	req.claim.support_unresolved == true
} else := {"remedy": md.remedy, "amount": md.refund.amount, "amount_kind": "exact"}

# METADATA
# description: The last payment's share for the days from the defect to the end of the period, rounded up.
subscription_share(req) := ceil((object.get(req.subscription, "last_payment_amount", 0) * days(facts.ns(appeared(req)), facts.ns(req.subscription.period_end))) / max([days(facts.ns(req.subscription.period_start), facts.ns(req.subscription.period_end)), 1]))

# METADATA
# description: Whole days from instant a to instant b (0 when b is earlier).
days(a, b) := max([floor((b - a) / 86400000000000), 0])

# METADATA
# description: |
#   Free termination of a tacitly renewed contract (L215-1): without the
#   renewal notice, or with one sent outside the window from 3 months to 1
#   month before the renewal date, the consumer may end it and is refunded
#   the last payment less the share already performed.
renewal_termination(req) := [] if {
	not req.subscription.auto_renewed == true
} else := [object.union(
	{"right": "renewal_termination", "invoked": invoked_renewal(req), "basis": law.basis.renewal_termination},
	renewal_status(req),
)]

# METADATA
# description: The claim asks to end the subscription.
default invoked_renewal(_) := false

invoked_renewal(req) if req.claim.reason == "cancel_subscription"

invoked_renewal(req) if req.claim.remedy == "cancel_renewal"

# METADATA
# description: The renewal date, period_start else the last payment.
renewal_date(req) := req.subscription.period_start if facts.present(req.subscription, "period_start")

else := claims.last_payment_at(req)

# METADATA
# description: The renewal date is known.
dated_renewal(req) if is_string(renewal_date(req))

# METADATA
# description: The renewal_termination status, with what it grants when it applies or may.
renewal_status(req) := {"status": "needs_facts", "missing": ["subscription.period_start"]} if {
	not dated_renewal(req)
} else := {"status": "not_applicable", "missing": []} if {
	facts.present(req.subscription, "renewal_notice_sent_at")
	notice_in_window(req)
} else := {"status": "needs_facts", "missing": renewal_missing(req), "grants": renewal_grant(req)} if {
	count(renewal_missing(req)) > 0
} else := {"status": "applies", "missing": [], "grants": renewal_grant(req)}

# METADATA
# description: The notice was sent from 3 months to 1 month (calendar, bounds included) before the renewal date.
notice_in_window(req) if {
	sent := facts.ns(req.subscription.renewal_notice_sent_at)
	renewal := facts.ns(renewal_date(req))
	sent >= time.add_date(renewal, 0, 0 - law.renewal_notice_months.earliest, 0)
	sent <= time.add_date(renewal, 0, 0 - law.renewal_notice_months.latest, 0)
}

# METADATA
# description: The facts renewal_termination lacks - whether the notice was sent, the last payment's amount.
renewal_missing(req) := sort([f |
	some key in ["renewal_notice_sent_at", "last_payment_amount"]
	not key in object.keys(req.subscription)
	f := sprintf("subscription.%s", [key])
])

# METADATA
# description: The last payment less the performed share, rounded down in the consumer's favour.
renewal_grant(req) := {"remedy": "refund", "amount": max([last - deduction, 0]), "amount_kind": "exact"} if {
	last := object.get(req.subscription, "last_payment_amount", 0)
	start := facts.ns(renewal_date(req))
	period_days := max([days(start, renewal_end(req, start)), 1])
	used := min([days(start, facts.ns(req.claim.submitted_at)), period_days])
	deduction := floor((last * used) / period_days)
}

# METADATA
# description: The end of the renewed period; without period_end, 12 calendar months (annual) or 1 (monthly) after the renewal date.
renewal_end(req, start) := facts.ns(req.subscription.period_end) if {
	facts.present(req.subscription, "period_end")
} else := time.add_date(start, 0, 1, 0) if {
	req.subscription.billing == "monthly"
} else := time.add_date(start, 0, 12, 0)
