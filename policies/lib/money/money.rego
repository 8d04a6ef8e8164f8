# METADATA
# title: Money
# description: |
#   Pure helpers over integer minor units. Nothing here invents money: every
#   amount is a sum of, or a part of, what the order's lines were paid.
package refunds.lib.money

# METADATA
# description: The sum of the lines' amounts.
total(lines) := sum([line.amount | some line in lines])

# METADATA
# description: |
#   Refunds the lines in full, except those whose kind is a key of
#   withheld_kinds (kind -> withheld code), which are listed as withheld.
settle(lines, withheld_kinds) := {
	"amount": total([line | some line in lines; not withheld_kinds[line.kind]]),
	"withheld": withheld(lines, withheld_kinds),
}

# METADATA
# description: |
#   Like settle, but each refunded line is prorated to remaining/period of its
#   amount, rounded down; the part kept back is withheld with code.
settle_prorated(lines, withheld_kinds, remaining, period, code) := {
	"amount": sum([prorate(line.amount, remaining, period) | some line in lines; not withheld_kinds[line.kind]]),
	"withheld": array.concat(withheld(lines, withheld_kinds), [entry |
		some line in lines
		not withheld_kinds[line.kind]
		kept := line.amount - prorate(line.amount, remaining, period)
		kept > 0
		entry := {"line_id": line.id, "amount": kept, "code": code}
	]),
}

# METADATA
# description: The withheld entries of the lines whose kind withheld_kinds names.
withheld(lines, withheld_kinds) := [{"line_id": line.id, "amount": line.amount, "code": code} |
	some line in lines
	code := withheld_kinds[line.kind]
]

# METADATA
# description: floor(amount * remaining / period), with remaining clamped to [0, period].
prorate(amount, remaining, period) := floor((amount * min([max([remaining, 0]), period])) / period)
