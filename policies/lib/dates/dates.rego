# METADATA
# title: Claim windows
# description: |
#   Pure helpers that measure claim windows. Every time is an RFC 3339 string
#   taken from the request; the server clock is never read. "Within N days
#   after T" means at <= T + N calendar days, compared as instants in UTC.
package refunds.lib.dates

# METADATA
# description: True when at is no later than n calendar days after t.
within_days(at, t, n) if {
	time.parse_rfc3339_ns(at) <= time.add_date(time.parse_rfc3339_ns(t), 0, 0, n)
}

# METADATA
# description: True when at is no later than n calendar months after t (see add_months).
within_months(at, t, n) if {
	time.parse_rfc3339_ns(at) <= add_months(time.parse_rfc3339_ns(t), n)
}

# METADATA
# description: True when at is no later than n calendar years after t.
within_years(at, t, n) if within_months(at, t, n * 12)

# METADATA
# description: |
#   ns shifted by n calendar months, in UTC. A day that the target month lacks
#   becomes that month's last day (31 January + 1 month = 28 or 29 February).
add_months(ns, n) := shifted if {
	shifted := time.add_date(ns, 0, n, 0)
	time.date(shifted)[2] == time.date(ns)[2]
} else := clamped if {
	shifted := time.add_date(ns, 0, n, 0)
	clamped := time.add_date(shifted, 0, 0, 0 - time.date(shifted)[2])
}

# METADATA
# description: Whole calendar months from from_t to to_t; 0 when to_t is earlier.
whole_months(from_t, to_t) := 0 if {
	time.parse_rfc3339_ns(to_t) < time.parse_rfc3339_ns(from_t)
} else := months if {
	[years, m, _, _, _, _] := time.diff(time.parse_rfc3339_ns(from_t), time.parse_rfc3339_ns(to_t))
	months := (years * 12) + m
}

# METADATA
# description: The calendar date (YYYY-MM-DD) of an instant in time zone tz.
local_date(ns, tz) := sprintf("%04d-%02d-%02d", time.date([ns, tz]))

# METADATA
# description: |
#   True when at falls within n business days after t: counting the business
#   days (Monday to Friday in tz, minus holidays given as YYYY-MM-DD) strictly
#   after t's local date up to and including at's local date gives at most n.
within_business_days(at, t, n, tz, holidays) if {
	local_date(time.parse_rfc3339_ns(at), tz) < business_days_after(t, n + 1, tz, holidays)[n]
}

# METADATA
# description: The first n business days strictly after t's local date, in order.
business_days_after(t, n, tz, holidays) := array.slice(days, 0, n) if {
	[y, m, d] := time.date([time.parse_rfc3339_ns(t), tz])

	# Noon UTC of the local date: adding whole days never crosses a date line.
	start := time.parse_rfc3339_ns(sprintf("%04d-%02d-%02dT12:00:00Z", [y, m, d]))
	horizon := ((2 * n) + count(holidays)) + 7
	days := sort([day |
		some k in numbers.range(1, horizon)
		ns := time.add_date(start, 0, 0, k)
		not time.weekday(ns) in {"Saturday", "Sunday"}
		day := local_date(ns, "UTC")
		not day in holidays
	])
}
