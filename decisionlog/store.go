package decisionlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
	_ "modernc.org/sqlite"             // SQLite, pure Go
)

// ErrNotFound is returned for a decision id with no record.
var ErrNotFound = errors.New("no such decision")

// Store keeps records. SQLite and PostgreSQL share this implementation.
type Store struct {
	db   *sql.DB
	kind string
}

const schema = `
CREATE TABLE IF NOT EXISTS decisions (
	decision_id TEXT PRIMARY KEY,
	ts          BIGINT NOT NULL,
	merchant    TEXT NOT NULL,
	revision    TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	remedy      TEXT NOT NULL,
	currency    TEXT NOT NULL,
	refunded    BIGINT NOT NULL,
	engine_ns   BIGINT NOT NULL,
	request     TEXT NOT NULL,
	decision    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_merchant ON decisions (merchant, decision_id);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts);
`

// OpenSQLite opens (creating it if need be) the embedded store in dir, in
// WAL mode with full synchronous commits: a committed record survives a
// crash of the process or the machine.
func OpenSQLite(dir string) (*Store, error) {
	// Records are private: the directory and the database are the
	// server's alone (SQLite gives its WAL files the database's mode).
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	path := filepath.Join(dir, "decisions.db")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	f.Close()
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("decision log %s: %w", path, err)
	}
	return open(db, "sqlite")
}

// OpenSQLiteExisting opens the embedded store in dir for reading back: a
// directory without a decision log is an error, not a new empty log.
func OpenSQLiteExisting(dir string) (*Store, error) {
	path := filepath.Join(dir, "decisions.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no decision log at %s (give the --data-dir the server logged into, or --db-url): %w", path, err)
	}
	return OpenSQLite(dir)
}

// OpenPostgres opens the store in the PostgreSQL database at url.
func OpenPostgres(url string) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("decision log: %w", err)
	}
	return open(db, "postgres")
}

func open(db *sql.DB, kind string) (*Store, error) {
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, stmt := range strings.Split(schema, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("decision log (%s) schema: %w", kind, err)
		}
	}
	st := &Store{db: db, kind: kind}
	if err := st.check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// check refuses a damaged store: SQLite's quick_check over every page, or
// in PostgreSQL a decisions table without the columns refundd writes.
func (s *Store) check(ctx context.Context) error {
	if s.kind == "sqlite" {
		lines, err := s.column(ctx, `PRAGMA quick_check`)
		if err != nil {
			return fmt.Errorf("decision log (sqlite) integrity check: %w", err)
		}
		if problems := slices.DeleteFunc(lines, func(l string) bool { return l == "ok" }); len(problems) > 0 {
			return fmt.Errorf("decision log (sqlite) is damaged; restore it from a backup or move it aside: %s",
				strings.Join(problems[:min(len(problems), 5)], "; "))
		}
		return nil
	}
	have, err := s.column(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = 'decisions' AND table_schema = current_schema()`)
	if err != nil {
		return fmt.Errorf("decision log (postgres) schema check: %w", err)
	}
	var missing []string
	for _, c := range strings.Split(columns, ", ") {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("decision log (postgres): table decisions lacks column(s) %s", strings.Join(missing, ", "))
	}
	return nil
}

// column runs a query whose rows are one text column each.
func (s *Store) column(ctx context.Context, query string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Probe commits a transaction that writes a record and deletes it again:
// it fails when records cannot be committed (a full disk, a read-only
// file, a database that refuses writes).
func (s *Store) Probe(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	id := "probe-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := tx.ExecContext(ctx, `INSERT INTO decisions (`+columns+`)
		VALUES ($1, 0, '', '', '', '', '', 0, 0, '', '')`, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM decisions WHERE decision_id = $1`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// Kind is "sqlite" or "postgres".
func (s *Store) Kind() string { return s.kind }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Write commits records in one transaction; a record already there (by
// decision id) is left as it is.
func (s *Store) Write(ctx context.Context, recs []Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO decisions
		(decision_id, ts, merchant, revision, outcome, remedy, currency, refunded, engine_ns, request, decision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (decision_id) DO NOTHING`) // a record indexed again from the WAL
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range recs {
		if _, err := stmt.ExecContext(ctx, r.DecisionID, r.Time.UnixNano(), r.Merchant, r.Revision, r.Outcome,
			r.Remedy, r.Currency, r.Refunded, r.EngineNanos, string(r.Request), string(r.Decision)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const columns = `decision_id, ts, merchant, revision, outcome, remedy, currency, refunded, engine_ns, request, decision`

func scan(row interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var ts int64
	var req, dec string
	if err := row.Scan(&r.DecisionID, &ts, &r.Merchant, &r.Revision, &r.Outcome, &r.Remedy, &r.Currency,
		&r.Refunded, &r.EngineNanos, &req, &dec); err != nil {
		return Record{}, err
	}
	r.Time = time.Unix(0, ts).UTC()
	r.Request, r.Decision = []byte(req), []byte(dec)
	return r, nil
}

// Get returns one record.
func (s *Store) Get(ctx context.Context, id string) (Record, error) {
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM decisions WHERE decision_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	return r, err
}

// where builds the filter of q; cursor rows come after (older than) it.
func where(q Query) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.Merchant != "" {
		add("merchant = ?", q.Merchant)
	}
	if q.Merchants != nil {
		if len(q.Merchants) == 0 {
			conds = append(conds, "1 = 0")
		} else {
			marks := make([]string, len(q.Merchants))
			for i, m := range q.Merchants {
				args = append(args, m)
				marks[i] = "$" + strconv.Itoa(len(args))
			}
			conds = append(conds, "merchant IN ("+strings.Join(marks, ", ")+")")
		}
	}
	if q.Outcome != "" {
		add("outcome = ?", q.Outcome)
	}
	if !q.Since.IsZero() {
		add("ts >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("ts < ?", q.Until.UnixNano())
	}
	if q.Cursor != "" {
		add("decision_id < ?", q.Cursor)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// List returns up to q.Limit records, newest first (decision ids are UUIDv7,
// ordered by time), and the cursor of the next page ("" at the end).
func (s *Store) List(ctx context.Context, q Query) ([]Record, string, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	w, args := where(q)
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM decisions`+w+
		` ORDER BY decision_id DESC LIMIT `+strconv.Itoa(q.Limit+1), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []Record
	size, full := 0, false
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		size += len(r.Request) + len(r.Decision)
		if q.MaxBytes > 0 && size > q.MaxBytes && len(out) > 0 {
			full = true
			break
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		full = true
	}
	if full {
		next = out[len(out)-1].DecisionID
	}
	return out, next, nil
}

// Each calls f for every record q selects, oldest first, streaming them.
func (s *Store) Each(ctx context.Context, q Query, f func(Record) error) error {
	w, args := where(Query{Merchant: q.Merchant, Outcome: q.Outcome, Since: q.Since, Until: q.Until})
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM decisions`+w+` ORDER BY decision_id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return err
		}
		if err := f(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Prune deletes the records older than before and says how many.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM decisions WHERE ts < $1`, before.UnixNano())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
