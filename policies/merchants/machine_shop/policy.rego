# METADATA
# title: machine_shop
# description: |
#   Machines under the 2-year legal guarantee, counted from delivery (else
#   payment), with after-sales service (seed 003). A new, never-used machine
#   faulty on arrival is replaced; a used one is repaired, or replaced when
#   it cannot be. An open payment dispute suspends after-sales service.
package refunds.merchants.machine_shop

import data.refunds.floor
import data.refunds.lib.claims
import data.refunds.lib.dates
import data.refunds.lib.decisions

params := data.merchants.machine_shop.params

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
decision := floor.apply(merchant_decision, input, object.get(data.merchants.machine_shop, "floor", {}), data.messages.en)

# METADATA
# description: |
#   The first of these that matches decides (an unpaid order is cancelled
#   before any of them):
#   1. an order whose payment is disputed is denied, return shipping at the
#      customer's cost (payment_dispute_open);
#   2. a fault (fault_reasons) within guarantee_years of delivery, see fault;
#   3. a fault after it is repaired at the customer's cost (warranty_expired);
#   4. any other reason is denied (reason_not_covered).
verdict := decisions.verdict("deny", "none", ["payment_dispute_open"], ["customer_pays_return_shipping"]) if {
	claims.flag(input.order.payment_dispute_open)
} else := fault if {
	input.claim.reason in params.fault_reasons
	dates.within_years(input.claim.submitted_at, claims.delivered_at(input.order), params.guarantee_years)
} else := decisions.verdict("deny", "paid_repair", ["warranty_expired"], ["customer_pays_repair"]) if {
	input.claim.reason in params.fault_reasons
} else := decisions.deny("reason_not_covered")

# METADATA
# description: |
#   A fault within the guarantee: denied when caused by misuse
#   (misuse_not_covered); a new, unused item is replaced (defective_on_arrival,
#   the item returned); a repairable one is repaired (warranty_repair); one
#   that cannot be repaired is replaced (repair_impossible).
fault := decisions.deny("misuse_not_covered") if {
	claims.flag(input.item.misuse)
} else := decisions.verdict("approve", "replacement", ["defective_on_arrival"], ["return_item"]) if {
	input.item.condition == "new_unused"
} else := decisions.verdict("approve", "repair", ["warranty_repair"], []) if {
	not input.item.repairable == false
} else := decisions.verdict("approve", "replacement", ["repair_impossible"], ["return_item"])
