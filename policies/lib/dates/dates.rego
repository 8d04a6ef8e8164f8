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
	business_days_between(local_day(time.parse_rfc3339_ns(t), tz), local_day(time.parse_rfc3339_ns(at), tz), n, holidays) <= n
}

# METADATA
# description: The local date of an instant in time zone tz, as a count of days since 1970-01-01.
local_day(ns, tz) := floor(time.parse_rfc3339_ns(sprintf("%04d-%02d-%02dT00:00:00Z", time.date([ns, tz]))) / 86400000000000)

# METADATA
# description: |
#   How the business days in the days (from, to] compare with n: at most n
#   if and only if the result is at most n. Within n calendar days the span
#   itself is returned (it bounds the count); past 2n + 7 + count(holidays)
#   days, n + 1 (there are surely more than n); in between, the exact count.
business_days_between(from, to, n, holidays) := max([to - from, 0]) if {
	to - from <= n
} else := n + 1 if {
	to - from > ((2 * n) + 7) + count(holidays)
} else := count([day |
	some day in numbers.range(from + 1, to)
	not ((day + 4) % 7) in {0, 6} # 1970-01-01 was a Thursday: 0 is Sunday, 6 Saturday
	not local_date(day * 86400000000000, "UTC") in holidays
])
