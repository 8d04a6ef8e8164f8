# METADATA
# title: crmjetty
# description: |
#   Software vendor with a 30-day refund period (seed 001). Taxes,
#   customization, support and extra domains are never refunded, and every
#   refund asks the customer to deactivate the license. Annual subscriptions
#   are refunded pro rata after the period when the issue was raised in time;
#   automatic renewals are refunded within 5 business days of their payment.
package refunds.merchants.crmjetty

import data.refunds.floor
import data.refunds.lib.claims
import data.refunds.lib.dates
import data.refunds.lib.decisions

params := data.merchants.crmjetty.params

# METADATA
# description: The merchant's own decision, as its terms give it.
merchant_decision := decisions.unpaid(input.order.currency, data.messages.en) if {
	not claims.paid(input.order)
} else := decisions.assemble(verdict, claimed, input.order.currency, params, data.messages.en)

# METADATA
# description: |
#   The decision document: the merchant's decision with what consumer law
#   grants beside it (the statutory floor), under the merchant's floor mode.
# entrypoint: true
decision := floor.apply(merchant_decision, input, object.get(data.merchants.crmjetty, "floor", {}), data.messages.en)

claimed := claims.claimed_lines(input.order, input.claim)

payment_at := claims.last_payment_at(input)

within_refund_window(t) if dates.within_days(t, payment_at, params.refund_window_days)

# The claim itself came within the refund window.
claimed_in_window if within_refund_window(input.claim.submitted_at)

auto_renewed if claims.flag(input.subscription.auto_renewed)

# METADATA
# description: |
#   The first of these that matches decides (an unpaid order is cancelled
#   before any of them; lines of the withheld_kinds are never refunded):
#   1. a customer who violated the copyright is denied (copyright_violation);
#   2. a product already refunded to the customer (previously_refunded_skus) is
#      denied (repeat_refund);
#   3. an automatic renewal claimed within renewal_business_days business days
#      of its payment is refunded, whatever the reason (renewal_refund_in_time);
#      later, a monthly one is cancelled without refund
#      (renewal_refund_window_expired) and an annual one goes on to rule 6;
#   4. a reason in not_accepted_reasons is denied (reason_not_accepted);
#   5. a third-party conflict goes to review (third_party_conflict_review);
#   6. annual subscriptions, see annual;
#   7. one-time purchases, see one_time.
verdict := decisions.deny("copyright_violation") if {
	claims.flag(input.customer.copyright_violation)
} else := decisions.deny("repeat_refund") if {
	some line in claimed
	line.kind == "product"
	line.sku in input.customer.previously_refunded_skus
} else := decisions.refund("refund", ["renewal_refund_in_time"], []) if {
	auto_renewed
	dates.within_business_days(input.claim.submitted_at, payment_at, params.renewal_business_days, params.time_zone, params.holidays)
} else := decisions.verdict("partial", "cancel_renewal", ["renewal_refund_window_expired"], []) if {
	auto_renewed
	input.subscription.billing == "monthly"
} else := annual if {
	auto_renewed
	input.subscription.billing == "annual"
} else := decisions.deny("reason_not_accepted") if {
	input.claim.reason in params.not_accepted_reasons
} else := decisions.verdict("refer", "none", ["third_party_conflict_review"], []) if {
	input.claim.reason == "third_party_conflict"
} else := annual if {
	input.subscription.billing == "annual"
} else := one_time

# METADATA
# description: |
#   Rule 6, annual subscriptions. Within refund_window_days of the payment, a
#   reason in annual_support_reasons is refunded once support could not
#   resolve it, and goes to support first otherwise (support_first); another
#   reason is denied (reason_not_accepted). Later, when the issue was raised
#   within the window, the months still to run are refunded pro rata
#   (prorated_refund); otherwise, or once the period is over, the claim is
#   denied (refund_window_expired).
annual := support_or_refund if {
	claimed_in_window
	input.claim.reason in params.annual_support_reasons
} else := decisions.deny("reason_not_accepted") if {
	claimed_in_window
} else := decisions.prorated_refund(remaining_months, params.period_months, ["prorated_refund"]) if {
	input.claim.reason in params.annual_support_reasons
	within_refund_window(claims.issue_reported_at(input.claim))
	remaining_months > 0
} else := decisions.deny("refund_window_expired")

# METADATA
# description: |
#   Months of the period still to run: the period length less the whole
#   calendar months from its start to the claim (the current month is refunded).
remaining_months := params.period_months - dates.whole_months(period_start, input.claim.submitted_at)

period_start := input.subscription.period_start if {
	is_string(input.subscription.period_start)
} else := payment_at

# METADATA
# description: |
#   Rule 7, one-time purchases. Within refund_window_days of the payment, a
#   reason in one_time_support_reasons is refunded once support could not
#   resolve it, and goes to support first otherwise (support_first); another
#   reason is denied (reason_not_accepted). Later, denied
#   (refund_window_expired).
one_time := support_or_refund if {
	claimed_in_window
	input.claim.reason in params.one_time_support_reasons
} else := decisions.deny("reason_not_accepted") if {
	claimed_in_window
} else := decisions.deny("refund_window_expired")

# METADATA
# description: Within the window, support must have failed before money goes back.
support_or_refund := decisions.refund("refund", ["within_refund_window"], []) if {
	claims.flag(input.claim.support_unresolved)
} else := decisions.verdict("refer", "support", ["support_first"], ["open_support_ticket"])
