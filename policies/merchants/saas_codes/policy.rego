# METADATA
# title: saas_codes
# description: |
#   Activation-code reseller (seed 000). A code is generated for each purchase
#   and is never refunded; an undelivered code is sent again and a code that
#   will not activate goes to support.
package refunds.merchants.saas_codes

import data.refunds.floor
import data.refunds.lib.claims
import data.refunds.lib.decisions

params := data.merchants.saas_codes.params

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
decision := floor.apply(merchant_decision, input, object.get(data.merchants.saas_codes, "floor", {}), data.messages.en)

# METADATA
# description: |
#   An unpaid order is cancelled; otherwise a code that was not delivered is
#   sent again (code_resent), one that does not work goes to support
#   (support_assistance), and every other claim is denied: codes are not
#   refundable and may be resold (saas_code_non_refundable, resale_allowed).
verdict := decisions.verdict("approve", "redeliver", ["code_resent"], []) if {
	input.claim.reason in params.redeliver_reasons
} else := decisions.verdict("refer", "support", ["support_assistance"], []) if {
	input.claim.reason in params.support_reasons
} else := decisions.verdict("deny", "none", ["saas_code_non_refundable", "resale_allowed"], [])
