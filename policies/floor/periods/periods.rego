# METADATA
# title: Statutory periods
# description: |
#   Day counting for the statutory floor. A period of N days starts the day
#   after its start event (the start day is not counted, in the law's time
#   zone) and ends at the end of its last day, local time; in France a last
#   day that is a Saturday, a Sunday or a public holiday moves to the next
#   day that is none of these (FR.L221-19). Pure functions of their arguments.
package refunds.floor.periods

# METADATA
# description: The calendar date (YYYY-MM-DD) of instant ns in time zone tz.
local_date(ns, tz) := sprintf("%04d-%02d-%02d", time.date([ns, tz]))

# METADATA
# description: The date n calendar days after date (both YYYY-MM-DD).
add_days(date, n) := sprintf("%04d-%02d-%02d", time.date(time.add_date(midnight_utc(date), 0, 0, n)))

# METADATA
# description: The date n calendar months after date; a day the month lacks rolls over as Go's AddDate does.
add_months(date, n) := sprintf("%04d-%02d-%02d", time.date(time.add_date(midnight_utc(date), 0, n, 0)))

# METADATA
# description: date at 00:00 UTC, in nanoseconds.
midnight_utc(date) := time.parse_rfc3339_ns(sprintf("%sT00:00:00Z", [date]))

# METADATA
# description: True when date is neither a Saturday, a Sunday nor one of holidays.
working(date, holidays) if {
	not time.weekday(midnight_utc(date)) in {"Saturday", "Sunday"}
	not date in holidays
}

# METADATA
# description: date, or the first day after it that is neither a weekend day nor a holiday (at most 6 days later).
moved(date, holidays) := date if {
	working(date, holidays)
} else := d if {
	d := add_days(date, 1)
	working(d, holidays)
} else := d if {
	d := add_days(date, 2)
	working(d, holidays)
} else := d if {
	d := add_days(date, 3)
	working(d, holidays)
} else := d if {
	d := add_days(date, 4)
	working(d, holidays)
} else := d if {
	d := add_days(date, 5)
	working(d, holidays)
} else := add_days(date, 6)

# METADATA
# description: |
#   How far tz's clock is ahead of UTC at instant ns, in nanoseconds: the
#   local clock less the UTC one, brought within half a day (the offsets of
#   the zones the floor uses are under 12 hours).
offset(ns, tz) := (raw - (86400 * round(raw / 86400))) * 1000000000 if {
	local := time.clock([ns, tz])
	utc := time.clock(ns)
	raw := (((local[0] - utc[0]) * 3600) + ((local[1] - utc[1]) * 60)) + (local[2] - utc[2])
}

# METADATA
# description: |
#   The last second of date in tz, in nanoseconds: one second before local
#   midnight ends it. The offset is read twice, the second time at the
#   first guess, so a DST change between the two readings is taken into account.
end_of_day(date, tz) := (next - offset(next - offset(next, tz), tz)) - 1000000000 if {
	next := time.add_date(midnight_utc(date), 0, 0, 1)
}

# METADATA
# description: An instant as an RFC 3339 time in UTC.
rfc3339(ns) := time.format([ns, "UTC", "2006-01-02T15:04:05Z07:00"])

# METADATA
# description: |
#   The period of days days after the start date (YYYY-MM-DD, local), its
#   last day moved past non-working days when move, as {"last_day"}.
after(start_date, days, holidays, move) := ending(add_days(start_date, days), holidays, move)

# METADATA
# description: A period whose unmoved last day is last, as {"last_day"}.
ending(last, holidays, true) := {"last_day": moved(last, holidays)}

ending(last, _, false) := {"last_day": last}

# METADATA
# description: When a period whose last day is last_day ends, as an RFC 3339 time in UTC.
ends_at(last_day, tz) := rfc3339(end_of_day(last_day, tz))

# METADATA
# description: |
#   True when instant at (RFC 3339) falls within a period ending with
#   last_day in tz: the local date of at is not after it.
within(at, last_day, tz) if local_date(time.parse_rfc3339_ns(at), tz) <= last_day
