package refunds.floor.periods_test

import data.refunds.floor.periods

test_a_weekend_and_holidays_move_the_last_day if {
	periods.moved("2026-05-08", ["2026-05-08"]) == "2026-05-11" # Friday holiday, then the weekend
	periods.moved("2026-05-12", []) == "2026-05-12"
}

test_the_end_of_a_day_across_both_dst_changes_in_paris if {
	periods.ends_at("2026-03-29", "Europe/Paris") == "2026-03-29T21:59:59Z"
	periods.ends_at("2026-03-28", "Europe/Paris") == "2026-03-28T22:59:59Z"
	periods.ends_at("2026-10-25", "Europe/Paris") == "2026-10-25T22:59:59Z"
	periods.ends_at("2026-10-24", "Europe/Paris") == "2026-10-24T21:59:59Z"
	periods.ends_at("2026-10-24", "America/Sao_Paulo") == "2026-10-25T02:59:59Z"
	periods.ends_at("2026-12-31", "America/Sao_Paulo") == "2027-01-01T02:59:59Z"
	periods.ends_at("2026-12-31", "UTC") == "2026-12-31T23:59:59Z"
}

test_the_start_day_is_the_local_one if {
	periods.local_date(time.parse_rfc3339_ns("2026-03-01T23:30:00Z"), "Europe/Paris") == "2026-03-02"
	periods.after("2026-03-02", 14, [], false).last_day == "2026-03-16"
}

test_months_roll_over_as_calendar_months if {
	periods.add_months("2026-02-16", 12) == "2027-02-16"
	periods.add_months("2026-01-31", 1) == "2026-03-03"
}

test_a_move_goes_as_far_as_the_next_working_day if {
	periods.moved("2026-05-11", ["2026-05-11"]) == "2026-05-12"
	periods.moved("2026-05-11", ["2026-05-11", "2026-05-12"]) == "2026-05-13"
	periods.moved("2026-05-11", ["2026-05-11", "2026-05-12", "2026-05-13"]) == "2026-05-14"
	periods.moved("2026-05-11", ["2026-05-11", "2026-05-12", "2026-05-13", "2026-05-14"]) == "2026-05-15"
	periods.moved("2026-05-13", ["2026-05-13", "2026-05-14", "2026-05-15"]) == "2026-05-18"
	periods.moved("2026-05-12", ["2026-05-12", "2026-05-13", "2026-05-14", "2026-05-15"]) == "2026-05-18"
}
