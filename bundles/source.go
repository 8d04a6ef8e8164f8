package bundles

// Source is everything one merchant's policy is compiled from, whether it
// came from a source tree or a bundle: the shared lib, the merchant's own
// modules and data, the message catalog, and the tests that may gate its
// activation.
type Source struct {
	Merchant string
	// Revision names this content: "policies@<hash>" for a source tree, the
	// manifest revision for a bundle.
	Revision string
	// Origin is where it was read from (a directory, a file or a URL).
	Origin   string
	Lib      []Module
	Modules  []Module
	Tests    []Module
	Data     map[string]any // served at data.merchants.<Merchant>
	Messages map[string]any // served at data.messages
	// Floor is the statutory floor's law data (periods, holidays, article
	// codes), served at data.floor; its modules (floor/...) are in Lib.
	Floor map[string]any
	// Cases are requests (by case name) that the compiled evaluator must
	// decide as topdown does before it may serve this source: the
	// merchant's case set (tests/cases/<merchant>/ beside the policy tree),
	// shipped in its bundle at data.cases.<merchant> and never given to the
	// policy.
	Cases map[string]any
}
