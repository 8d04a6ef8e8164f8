# METADATA
# title: Claim defaults
# description: |
#   Pure helpers that read a DecisionRequest with the defaults of the contract:
#   absent optional fields, the claimed lines, and fallback times.
package refunds.lib.claims

# METADATA
# description: True when the order is paid (paid_at present and not null).
paid(order) if is_string(order.paid_at)

# METADATA
# description: The lines a claim covers; every line when line_ids is absent or null.
claimed_lines(order, claim) := [line |
	some line in order.lines
	line.id in claim.line_ids
] if {
	is_array(claim.line_ids)
} else := order.lines

# METADATA
# description: When the customer first reported the issue; defaults to submitted_at.
issue_reported_at(claim) := claim.issue_reported_at if {
	is_string(claim.issue_reported_at)
} else := claim.submitted_at

# METADATA
# description: The last payment, subscription.last_payment_at, else order.paid_at.
last_payment_at(request) := request.subscription.last_payment_at if {
	is_string(request.subscription.last_payment_at)
} else := request.order.paid_at

# METADATA
# description: When the goods reached the customer, order.delivered_at, else order.paid_at.
delivered_at(order) := order.delivered_at if {
	is_string(order.delivered_at)
} else := order.paid_at

# METADATA
# description: True when an optional boolean is present and true.
flag(value) if value == true
