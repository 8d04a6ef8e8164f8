package request

import (
	"fmt"
	"strings"
)

// Message renders the problem in lang ("fr" or, by default, "en").
func (e FieldError) Message(lang string) string {
	fr := lang == "fr"
	arg := func(i int) string {
		if i < len(e.Args) {
			return e.Args[i]
		}
		return ""
	}
	switch e.Rule {
	case "required":
		return pick(fr, "is required", "est obligatoire")
	case "type":
		return pick(fr, "must be "+article(arg(0)), "doit être "+articleFR(arg(0)))
	case "enum":
		return pick(fr, "must be one of: ", "doit valoir l'une de ces valeurs : ") + strings.Join(e.Args, ", ")
	case "time":
		return pick(fr, "must be an RFC 3339 time, such as 2026-03-10T10:00:00Z",
			"doit être une date RFC 3339, par exemple 2026-03-10T10:00:00Z")
	case "min":
		return pick(fr, "must be at least "+arg(0), "doit être au moins "+arg(0))
	case "max":
		return pick(fr, "must be an integer no greater than "+arg(0), "doit être un entier au plus égal à "+arg(0))
	case "range":
		return pick(fr, fmt.Sprintf("must be a whole number from %s to %s", arg(0), arg(1)),
			fmt.Sprintf("doit être un entier de %s à %s", arg(0), arg(1)))
	case "max_items":
		return pick(fr, "must hold at most "+arg(0)+" items", "doit contenir au plus "+arg(0)+" éléments")
	case "surrogate":
		return pick(fr, "holds a lone UTF-16 surrogate escape (\\ud800 to \\udfff outside a pair)",
			"contient un échappement de demi-code UTF-16 isolé (\\ud800 à \\udfff hors d'une paire)")
	case "nonempty":
		return pick(fr, "must not be empty", "ne doit pas être vide")
	case "duplicate":
		return pick(fr, "names a line already listed", "désigne une ligne déjà listée")
	case "unknown_line":
		return pick(fr, fmt.Sprintf("names no line of order.lines: %q", arg(0)),
			fmt.Sprintf("ne désigne aucune ligne de order.lines : %q", arg(0)))
	case "not_before":
		return pick(fr, "must not be before "+arg(0), "ne doit pas précéder "+arg(0))
	case "currency":
		return pick(fr, "must be an ISO 4217 currency code, such as EUR", "doit être un code de devise ISO 4217, par exemple EUR")
	case "body_object":
		return pick(fr, "must be a JSON object", "doit être un objet JSON")
	case "time_range":
		return pick(fr, "is out of range: times must fall from 1970-01-01 to 2200-12-31",
			"est hors limites : les dates doivent être comprises entre le 1970-01-01 et le 2200-12-31")
	case "sum_max":
		return pick(fr, "amounts must not add up to more than "+arg(0), "la somme des montants ne doit pas dépasser "+arg(0))
	case "unknown_field":
		return pick(fr, "is not a field of this request", "n'est pas un champ de cette requête")
	case "duplicate_key":
		return pick(fr, "appears more than once in its object", "apparaît plusieurs fois dans son objet")
	case "utf8":
		return pick(fr, "is not valid UTF-8", "n'est pas de l'UTF-8 valide")
	case "trailing":
		return pick(fr, "must be exactly one JSON value: more data follows at byte "+arg(0),
			"doit être une seule valeur JSON : d'autres données suivent à l'octet "+arg(0))
	case "truncated":
		return pick(fr, "ended before the length the request announced", "s'est terminé avant la longueur annoncée par la requête")
	case "query":
		return pick(fr, "is not a valid query parameter value", "n'est pas une valeur de paramètre valide")
	case "json":
		return pick(fr, "is not valid JSON: ", "n'est pas du JSON valide : ") + arg(0)
	}
	return e.Rule
}

func pick(fr bool, en, french string) string {
	if fr {
		return french
	}
	return en
}

func article(kind string) string {
	switch kind {
	case "object", "array", "integer":
		return "an " + kind
	}
	return "a " + kind
}

func articleFR(kind string) string {
	switch kind {
	case "object":
		return "un objet"
	case "array":
		return "une liste"
	case "integer":
		return "un entier"
	case "boolean":
		return "un booléen"
	}
	return "une chaîne de caractères"
}
