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
#   The period of days days after the start date (YYYY-MM-DD, local), its
#   last day moved past non-working days when move, as {"last_day"}.
after(start_date, days, holidays, move) := ending(add_days(start_date, days), holidays, move)

# METADATA
# description: A period whose unmoved last day is last, as {"last_day"}.
ending(last, holidays, true) := {"last_day": moved(last, holidays)}

ending(last, _, false) := {"last_day": last}

# METADATA
# description: |
#   When a period whose last day is last_day ends - the last second of that
#   day in tz, as an RFC 3339 time in UTC. The zone's offset is read at noon
#   UTC that day, after the night's DST change; the zones the floor uses
#   (Europe/Paris, America/Sao_Paulo) are whole hours from UTC.
ends_at(last_day, tz) := sprintf("%sT%02d:59:59Z", [last_day, 23 - h]) if {
	h := offset_hours(last_day, tz)
	h >= 0
} else := sprintf("%sT%02d:59:59Z", [add_days(last_day, 1), -1 - offset_hours(last_day, tz)])

# METADATA
# description: How many hours tz's clock is ahead of UTC on date (negative when behind).
offset_hours(date, tz) := time.clock([time.parse_rfc3339_ns(sprintf("%sT12:00:00Z", [date])), tz])[0] - 12

# METADATA
# description: |
#   True when instant at (RFC 3339) falls within a period ending with
#   last_day in tz: the local date of at is not after it.
within(at, last_day, tz) if local_date(time.parse_rfc3339_ns(at), tz) <= last_day
