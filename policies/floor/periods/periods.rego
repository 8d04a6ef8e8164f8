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
# description: True when date is a Saturday, a Sunday or one of holidays.
non_working(date, _) if time.weekday(midnight_utc(date)) in {"Saturday", "Sunday"}

non_working(date, holidays) if date in holidays

# METADATA
# description: date, or the first day after it that is neither a weekend day nor a holiday.
moved(date, holidays) := [d |
	some i in numbers.range(0, 7)
	d := add_days(date, i)
	not non_working(d, holidays)
][0]

# METADATA
# description: How far tz's clock is ahead of UTC at instant ns, in nanoseconds.
offset(ns, tz) := local - ns if {
	local := time.parse_rfc3339_ns(sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", array.concat(time.date([ns, tz]), time.clock([ns, tz]))))
}

# METADATA
# description: |
#   The instant local midnight begins date in tz. The offset is read twice,
#   the second time at the first guess, so a DST change between the two
#   readings is taken into account.
local_midnight(date, tz) := l - offset(guess, tz) if {
	l := midnight_utc(date)
	guess := l - offset(l, tz)
}

# METADATA
# description: The last second of date in tz, in nanoseconds.
end_of_day(date, tz) := local_midnight(add_days(date, 1), tz) - 1000000000

# METADATA
# description: An instant as an RFC 3339 time in UTC.
rfc3339(ns) := time.format([ns, "UTC", "2006-01-02T15:04:05Z07:00"])

# METADATA
# description: |
#   The period of days days after the start date (YYYY-MM-DD, local), its
#   last day moved past non-working days when move, as {"last_day", "ends_ns"}.
after(start_date, days, tz, holidays, move) := ending(add_days(start_date, days), tz, holidays, move)

# METADATA
# description: 'A period whose unmoved last day is last, as {"last_day", "ends_ns"}.'
ending(last, tz, holidays, true) := {"last_day": d, "ends_ns": end_of_day(d, tz)} if {
	d := moved(last, holidays)
}

ending(last, tz, _, false) := {"last_day": last, "ends_ns": end_of_day(last, tz)}
