// Package auth authenticates refundd's callers by bearer token and says
// what each may do. Tokens are kept as SHA-256 digests in a tokens file,
// one line each:
//
//	# name       digest                                                                   scopes
//	checkout     sha256:4b2f…                                                             decide:crmjetty decide:aomei
//	support-ui   sha256:9a01…                                                             read:* status
//
// A scope is decide:<merchant> or decide:* (the two decision routes),
// read:<merchant> or read:* (the decision log), impact:<merchant> or
// impact:* (impact analysis), status (GET /v1/merchants) or metrics.
package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Kinds of scope.
const (
	Decide  = "decide"
	Read    = "read"
	Impact  = "impact"
	Status  = "status"
	Metrics = "metrics"
)

// Principal is an authenticated caller: a token's name and scopes.
type Principal struct {
	Name string
	// merchants[kind] lists the merchants a per-merchant kind allows; "*"
	// allows every merchant. For status and metrics, any entry allows.
	merchants map[string]map[string]bool
}

// Allows tells whether p may act as kind on merchant ("" for status and
// metrics).
func (p *Principal) Allows(kind, merchant string) bool {
	m := p.merchants[kind]
	return m["*"] || m[merchant] || (merchant == "" && len(m) > 0 && (kind == Status || kind == Metrics))
}

// Merchants lists the merchants p may act on as kind; all is true for a
// wildcard scope.
func (p *Principal) Merchants(kind string) (ids []string, all bool) {
	m := p.merchants[kind]
	if m["*"] {
		return nil, true
	}
	for id := range m {
		ids = append(ids, id)
	}
	return ids, false
}

// entry is one line of a tokens file.
type entry struct {
	digest    [sha256.Size]byte
	principal *Principal
}

// Tokens is a parsed tokens file.
type Tokens struct {
	entries []entry
}

var (
	namePattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	merchantPattern = regexp.MustCompile(`^([a-z][a-z0-9_]{0,62}|\*)$`)
)

// Parse reads a tokens file and reports every bad line at once.
func Parse(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	var errs []error
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseLine(strings.Fields(line))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
		case names[e.principal.Name]:
			errs = append(errs, fmt.Errorf("line %d: name %q is used twice", n, e.principal.Name))
		case digests[e.digest]:
			errs = append(errs, fmt.Errorf("line %d: the same token digest is listed twice", n))
		default:
			names[e.principal.Name], digests[e.digest] = true, true
			t.entries = append(t.entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func parseLine(fields []string) (entry, error) {
	if len(fields) < 3 {
		return entry{}, errors.New(`want "name sha256:<hex digest> scope..."`)
	}
	name, digest, scopes := fields[0], fields[1], fields[2:]
	if !namePattern.MatchString(name) {
		return entry{}, fmt.Errorf("name %q: letters, digits, '.', '_' and '-', at most 64", name)
	}
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	raw, err := hex.DecodeString(hexDigest)
	if !ok || err != nil || len(raw) != sha256.Size {
		return entry{}, fmt.Errorf("%s: digest must be sha256: and 64 hex digits", name)
	}
	e := entry{principal: &Principal{Name: name, merchants: map[string]map[string]bool{}}}
	copy(e.digest[:], raw)
	for _, s := range scopes {
		kind, merchant, err := ParseScope(s)
		if err != nil {
			return entry{}, fmt.Errorf("%s: %w", name, err)
		}
		if e.principal.merchants[kind] == nil {
			e.principal.merchants[kind] = map[string]bool{}
		}
		if merchant == "" {
			merchant = "*"
		}
		e.principal.merchants[kind][merchant] = true
	}
	return e, nil
}

// ParseScope splits a scope into its kind and merchant ("" for status and
// metrics), or says what is wrong with it.
func ParseScope(s string) (kind, merchant string, err error) {
	kind, merchant, hasMerchant := strings.Cut(s, ":")
	switch kind {
	case Status, Metrics:
		if hasMerchant {
			return "", "", fmt.Errorf("scope %q: %s takes no merchant", s, kind)
		}
		return kind, "", nil
	case Decide, Read, Impact:
		if !hasMerchant || !merchantPattern.MatchString(merchant) {
			return "", "", fmt.Errorf("scope %q: want %s:<merchant> or %s:*", s, kind, kind)
		}
		return kind, merchant, nil
	}
	return "", "", fmt.Errorf("scope %q: unknown; scopes are decide:, read:, impact: (each with a merchant or *), status and metrics", s)
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Authenticate returns the principal of token, if it is one of t's. Every
// digest is compared, in constant time, whatever matches.
func (t *Tokens) Authenticate(token string) (*Principal, bool) {
	sum := sha256.Sum256([]byte(token))
	var found *Principal
	for i := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], t.entries[i].digest[:]) == 1 {
			found = t.entries[i].principal
		}
	}
	return found, found != nil
}

// New makes a random token (256 bits) and its tokens-file line.
func New(name string, scopes []string) (token, line string, err error) {
	if !namePattern.MatchString(name) {
		return "", "", fmt.Errorf("name %q: letters, digits, '.', '_' and '-', at most 64", name)
	}
	if len(scopes) == 0 {
		return "", "", errors.New("at least one scope is needed")
	}
	for _, s := range scopes {
		if _, _, err := ParseScope(s); err != nil {
			return "", "", err
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = "rfd_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, Line(name, token, scopes), nil
}

// Line is the tokens-file line of a token.
func Line(name, token string, scopes []string) string {
	sum := sha256.Sum256([]byte(token))
	return name + " sha256:" + hex.EncodeToString(sum[:]) + " " + strings.Join(scopes, " ")
}
