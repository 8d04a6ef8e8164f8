package refunds.lib.dates_test

import data.refunds.lib.dates

paid := "2026-03-01T10:00:00Z"

test_within_days_inclusive_at_the_instant if {
	dates.within_days("2026-03-31T10:00:00Z", paid, 30)
	dates.within_days("2026-03-01T10:00:00Z", paid, 30)
}

test_within_days_one_second_after if {
	not dates.within_days("2026-03-31T10:00:01Z", paid, 30)
}

test_within_days_compares_instants_across_offsets if {
	# 12:00+02:00 is 10:00Z, exactly on the edge; 12:00:01+02:00 is past it.
	dates.within_days("2026-03-31T12:00:00+02:00", paid, 30)
	not dates.within_days("2026-03-31T12:00:01+02:00", paid, 30)
}

test_add_months_keeps_the_day if {
	dates.add_months(time.parse_rfc3339_ns("2026-01-15T08:00:00Z"), 1) == time.parse_rfc3339_ns("2026-02-15T08:00:00Z")
}

test_add_months_clamps_to_the_last_day if {
	dates.add_months(time.parse_rfc3339_ns("2026-01-31T08:00:00Z"), 1) == time.parse_rfc3339_ns("2026-02-28T08:00:00Z")
	dates.add_months(time.parse_rfc3339_ns("2024-02-29T08:00:00Z"), 24) == time.parse_rfc3339_ns("2026-02-28T08:00:00Z")
}

test_within_years if {
	dates.within_years("2028-03-03T15:00:00Z", "2026-03-03T15:00:00Z", 2)
	not dates.within_years("2028-03-03T15:00:01Z", "2026-03-03T15:00:00Z", 2)
}

test_within_months_leap_day if {
	dates.within_months("2026-02-28T09:00:00Z", "2024-02-29T09:00:00Z", 24)
	not dates.within_months("2026-03-01T00:00:00Z", "2024-02-29T09:00:00Z", 24)
}

test_whole_months if {
	dates.whole_months("2026-01-15T00:00:00Z", "2026-01-15T00:00:00Z") == 0
	dates.whole_months("2026-01-15T00:00:00Z", "2026-02-14T23:59:59Z") == 0
	dates.whole_months("2026-01-15T00:00:00Z", "2026-02-15T00:00:00Z") == 1
	dates.whole_months("2026-01-15T00:00:00Z", "2027-03-20T00:00:00Z") == 14
}

test_whole_months_before_start_is_zero if {
	dates.whole_months("2026-01-15T00:00:00Z", "2026-01-01T00:00:00Z") == 0
}

test_local_date_uses_the_time_zone if {
	dates.local_date(time.parse_rfc3339_ns("2026-03-01T23:30:00Z"), "Europe/Paris") == "2026-03-02"
	dates.local_date(time.parse_rfc3339_ns("2026-03-01T23:30:00Z"), "UTC") == "2026-03-01"
}

holidays := ["2026-05-01", "2026-05-08"]

test_local_day_counts_days_since_1970 if {
	dates.local_day(time.parse_rfc3339_ns("1970-01-01T23:00:00Z"), "UTC") == 0
	dates.local_day(time.parse_rfc3339_ns("1970-01-01T23:00:00Z"), "Europe/Paris") == 1
	dates.local_day(time.parse_rfc3339_ns("2026-04-30T10:00:00Z"), "Europe/Paris") == 20573
}

test_business_days_between_skip_weekends_and_holidays if {
	# Thursday 30 April 2026 (day 20573) to Tuesday 12 May (20585):
	# 1 May and 8 May are holidays, 2-3 and 9-10 May weekends.
	dates.business_days_between(20573, 20585, 8, holidays) == 6
	dates.business_days_between(20573, 20585, 8, []) == 8
}

test_business_days_between_fast_paths if {
	# Within n calendar days: at most that many, without counting.
	dates.business_days_between(20573, 20576, 5, holidays) == 3
	dates.business_days_between(20573, 20570, 5, holidays) == 0

	# Far past the window: surely more than n.
	dates.business_days_between(20573, 20700, 5, holidays) == 6
}

test_within_business_days_across_a_weekend if {
	# Friday 6 March 2026: five business days run Monday 9 to Friday 13.
	dates.within_business_days("2026-03-13T23:59:59+01:00", "2026-03-06T10:00:00Z", 5, "Europe/Paris", [])

	# Saturday and Sunday add no business day: still five.
	dates.within_business_days("2026-03-15T20:00:00Z", "2026-03-06T10:00:00Z", 5, "Europe/Paris", [])

	# Monday 16 is the sixth.
	not dates.within_business_days("2026-03-16T00:00:00+01:00", "2026-03-06T10:00:00Z", 5, "Europe/Paris", [])
}

test_within_business_days_across_a_holiday if {
	# Thursday 30 April: 4, 5, 6, 7 and 11 May; 8 May is a holiday.
	dates.within_business_days("2026-05-11T18:00:00Z", "2026-04-30T10:00:00Z", 5, "Europe/Paris", holidays)
	not dates.within_business_days("2026-05-11T18:00:00Z", "2026-04-30T10:00:00Z", 5, "Europe/Paris", [])
	not dates.within_business_days("2026-05-12T08:00:00Z", "2026-04-30T10:00:00Z", 5, "Europe/Paris", holidays)
}

test_within_business_days_in_the_merchant_time_zone if {
	# 23:30Z on Sunday 15 March is still Sunday in UTC (five business days
	# since Friday 6) but already Monday 16 in Paris (the sixth).
	dates.within_business_days("2026-03-15T23:30:00Z", "2026-03-06T10:00:00Z", 5, "UTC", [])
	not dates.within_business_days("2026-03-15T23:30:00Z", "2026-03-06T10:00:00Z", 5, "Europe/Paris", [])
}
