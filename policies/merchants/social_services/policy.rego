# METADATA
# title: social_services
# description: |
#   Social-media services, intangible and irrevocable (seed 002). Non-delivery,
#   a product not as described, cancelling a recurring payment and
#   dissatisfaction are each heard within 7 days; nothing else is refunded.
package refunds.merchants.social_services

import data.refunds.floor
import data.refunds.lib.claims
import data.refunds.lib.dates
import data.refunds.lib.decisions

params := data.merchants.social_services.params

# METADATA
# description: The merchant's own decision, as its terms give it.
merchant_decision := decisions.unpaid(input.order.currency, data.messages.en) if {
	not claims.paid(input.order)
} else := decisions.assemble(verdict, claims.claimed_lines(input.order, input.claim), input.order.currency, params, data.messages.en)

# METADATA
# description: |
#   The decision document: the merchant's decision with what consumer law
#   grants beside it (the statutory floor), under the merchant's floor mode.
# entrypoint: true
decision := floor.apply(merchant_decision, input, object.get(data.merchants.social_services, "floor", {}), data.messages.en)

# METADATA
# description: |
#   The claim's reason picks the rule; every window is claim_window_days
#   (an unpaid order is cancelled before any of them):
#   - not delivered, within the window after placing: refunded
#     (non_delivery_claim_in_time), or referred when the order says it was
#     delivered (delivery_disputed); later, denied (claim_window_expired);
#   - not as described, within the window after payment: refunded with evidence
#     (not_as_described_with_evidence), denied without (evidence_required);
#     later, denied (claim_window_expired);
#   - a subscription cancelled within the window after its last payment is
#     refunded (recurring_cancel_in_time); later, it is cancelled without refund
#     (recurring_refund_window_expired);
#   - dissatisfied within the window after payment: referred to a satisfaction
#     review (satisfaction_review); later, denied (claim_window_expired);
#   - any other reason: denied, services performed cannot be returned
#     (intangible_goods_irrevocable).
verdict := not_delivered if {
	input.claim.reason == "not_delivered"
} else := not_as_described if {
	input.claim.reason == "not_as_described"
} else := cancel_subscription if {
	input.claim.reason == "cancel_subscription"
} else := dissatisfied if {
	input.claim.reason == "dissatisfied"
} else := decisions.deny("intangible_goods_irrevocable")

within_window(t) if dates.within_days(input.claim.submitted_at, t, params.claim_window_days)

not_delivered := decisions.verdict("refer", "none", ["delivery_disputed"], []) if {
	within_window(input.order.placed_at)
	is_string(input.order.delivered_at)
} else := decisions.refund("refund", ["non_delivery_claim_in_time"], []) if {
	within_window(input.order.placed_at)
} else := decisions.deny("claim_window_expired")

not_as_described := decisions.refund("refund", ["not_as_described_with_evidence"], []) if {
	within_window(input.order.paid_at)
	is_array(input.claim.evidence)
	count(input.claim.evidence) > 0
} else := decisions.deny("evidence_required") if {
	within_window(input.order.paid_at)
} else := decisions.deny("claim_window_expired")

cancel_subscription := decisions.refund("refund", ["recurring_cancel_in_time"], []) if {
	within_window(claims.last_payment_at(input))
} else := decisions.verdict("partial", "cancel_renewal", ["recurring_refund_window_expired"], [])

dissatisfied := decisions.verdict("refer", "support", ["satisfaction_review"], []) if {
	within_window(input.order.paid_at)
} else := decisions.deny("claim_window_expired")
