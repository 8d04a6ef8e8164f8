package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/refundd/refundd/config"
	"github.com/refundd/refundd/decisionlog"
	"github.com/refundd/refundd/replay"
	"github.com/refundd/refundd/request"
)

// replayCmd re-evaluates a merchant's logged decisions against a candidate
// policy and reports what would change.
func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refundd replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	merchant := fs.String("merchant", "", "merchant id (required)")
	candidate := fs.String("candidate", "", "candidate policy: a source tree directory or a bundle file (required)")
	since := fs.String("since", "", "replay decisions made at or after this RFC 3339 time")
	until := fs.String("until", "", "replay decisions made before this RFC 3339 time")
	dataDir := fs.String("data-dir", envOr("REFUNDD_DATA_DIR", "data/"), "directory of the SQLite decision log")
	dbURL := fs.String("db-url", envOr("REFUNDD_DB_URL", ""), "PostgreSQL decision log URL (instead of --data-dir)")
	sample := fs.Int("sample", 10, "changed decisions to show with before and after")
	ids := fs.Bool("ids", false, "list every changed decision id")
	format := fs.String("format", "text", "text or json")
	gcPercent := fs.Int("gc-percent", config.Default().GCPercent, "garbage collector target, as GOGC (the GOGC environment variable, if set, wins): a replay allocates as serving does")
	verify := verificationFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: refundd replay --merchant ID --candidate PATH [--since T] [--until T] [--data-dir DIR | --db-url URL] [--format text|json]")
		fs.PrintDefaults()
	}
	if code, done := parse(fs, args); done {
		return code
	}
	if *merchant == "" || *candidate == "" || fs.NArg() > 0 || (*format != "text" && *format != "json") {
		fs.Usage()
		return 2
	}
	if err := config.CheckGCPercent(*gcPercent); err != nil {
		fmt.Fprintf(stderr, "refundd replay: --%v\n", err)
		return 2
	}
	setGCPercent(*gcPercent)
	opts := replay.Options{Merchant: *merchant, Sample: *sample, ChangedIDs: *ids}
	for _, t := range []struct {
		flag string
		dst  *time.Time
	}{{*since, &opts.Since}, {*until, &opts.Until}} {
		if t.flag == "" {
			continue
		}
		v, _, rule := request.ParseTime(t.flag)
		if rule != "" {
			return fail(stderr, "refundd replay", fmt.Errorf("--since/--until %q: not an RFC 3339 time", t.flag))
		}
		*t.dst = v
	}
	var store *decisionlog.Store
	var err error
	if *dbURL != "" {
		store, err = decisionlog.OpenPostgres(*dbURL)
	} else {
		store, err = decisionlog.OpenSQLiteExisting(*dataDir)
	}
	if err != nil {
		return fail(stderr, "refundd replay", err)
	}
	defer store.Close()
	ctx := context.Background()
	eng, rev, err := replay.Candidate(ctx, *candidate, *merchant, verify.verification())
	if err != nil {
		return fail(stderr, "refundd replay", err)
	}
	rep, err := replay.Run(ctx, store, eng, rev, opts)
	if err != nil {
		return fail(stderr, "refundd replay", err)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return 0
	}
	printReport(stdout, rep)
	return 0
}

func printReport(w io.Writer, rep *replay.Report) {
	fmt.Fprintf(w, "merchant %s, candidate %s: %d decisions replayed in %.1fs, %d would change, %d failed\n\n",
		rep.Merchant, rep.Candidate, rep.Decisions, rep.Seconds, rep.Changed, rep.Failed)
	fmt.Fprintln(w, "outcome before -> after")
	var from []string
	for k := range rep.Transitions {
		from = append(from, k)
	}
	sort.Strings(from)
	for _, f := range from {
		var to []string
		for k := range rep.Transitions[f] {
			to = append(to, k)
		}
		sort.Strings(to)
		for _, t := range to {
			mark := ""
			if f != t {
				mark = "  *"
			}
			fmt.Fprintf(w, "  %-8s -> %-8s %8d%s\n", f, t, rep.Transitions[f][t], mark)
		}
	}
	fmt.Fprintln(w, "\nrefunded (minor units)  before  after  change")
	var curs []string
	for k := range rep.Refunded {
		curs = append(curs, k)
	}
	sort.Strings(curs)
	for _, c := range curs {
		m := rep.Refunded[c]
		fmt.Fprintf(w, "  %s  %d  %d  %+d\n", c, m.Before, m.After, m.Change)
	}
	if len(rep.Sample) > 0 {
		fmt.Fprintln(w, "\nsample of changed decisions")
		for _, ch := range rep.Sample {
			fmt.Fprintf(w, "  %s  %s %s %d %v  ->  %s %s %d %v\n", ch.DecisionID,
				ch.Before.Outcome, ch.Before.Remedy, ch.Before.Refund.Amount, ch.Before.Reasons,
				ch.After.Outcome, ch.After.Remedy, ch.After.Refund.Amount, ch.After.Reasons)
		}
	}
	for _, id := range rep.ChangedIDs {
		fmt.Fprintln(w, id)
	}
	for _, e := range rep.Errors {
		fmt.Fprintln(w, "error:", e)
	}
}
