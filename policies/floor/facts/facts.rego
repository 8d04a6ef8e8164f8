# METADATA
# title: Facts of a claim, for the statutory floor
# description: |
#   What every jurisdiction's rights read from a request: the claimed lines,
#   what was paid for them, their product types, and times. Pure functions.
package refunds.floor.facts

import data.refunds.lib.claims
import data.refunds.lib.money

# METADATA
# description: The claimed lines.
claimed(req) := claims.claimed_lines(req.order, req.claim)

# METADATA
# description: Everything paid for the claimed lines, every kind of line included.
paid(req) := money.total(claimed(req))

# METADATA
# description: The product types of the claimed lines.
types(req) := {line.product_type | some line in claimed(req); line.product_type}

# METADATA
# description: An RFC 3339 time in nanoseconds.
ns(t) := time.parse_rfc3339_ns(t)

# METADATA
# description: True when obj[key] is a time (a string), not null or absent.
present(obj, key) if is_string(object.get(obj, key, null))
