# METADATA
# title: aomei
# description: |
#   Software vendor with an unconditional 90-day money-back guarantee
#   (seed 004). A lost license is sent again at any time; a wrong product is
#   exchanged and refunded within the guarantee. Taxes are refunded too.
package refunds.merchants.aomei

import data.refunds.floor
import data.refunds.lib.claims
import data.refunds.lib.dates
import data.refunds.lib.decisions

params := data.merchants.aomei.params

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
decision := floor.apply(merchant_decision, input, object.get(data.merchants.aomei, "floor", {}), data.messages.en)

# METADATA
# description: |
#   The first of these that matches decides (an unpaid order is cancelled
#   before any of them):
#   1. a lost license is sent again, at any time (license_resent);
#   2. a wrong product, within guarantee_days of payment, is exchanged and
#      refunded (wrong_product_exchange);
#   3. any other claim within guarantee_days of payment is refunded in full,
#      taxes included (money_back_guarantee);
#   4. later, the claim is denied (guarantee_expired).
verdict := decisions.verdict("approve", "redeliver", ["license_resent"], []) if {
	input.claim.reason == "lost_license"
} else := decisions.refund("exchange", ["wrong_product_exchange"], []) if {
	in_guarantee
	input.claim.reason == "wrong_product"
} else := decisions.refund("refund", ["money_back_guarantee"], []) if {
	in_guarantee
} else := decisions.deny("guarantee_expired")

in_guarantee if dates.within_days(input.claim.submitted_at, input.order.paid_at, params.guarantee_days)
