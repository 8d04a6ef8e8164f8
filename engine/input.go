package engine

import (
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/refundd/refundd/request"
)

// fieldTerms are the terms of the request's field names, made once and
// shared by every input: terms are never changed once made.
var fieldTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, name := range request.FieldNames() {
		m[name] = ast.StringTerm(name)
	}
	return m
}()

// inputValue converts a decoded request (the types request.Decode makes:
// objects, arrays, strings, json.Number, booleans, null) into the value the
// policy reads as input, as ast.InterfaceToValue does, with the terms of
// each object and array made in one allocation and field names shared.
func inputValue(x any) (ast.Value, error) {
	switch v := x.(type) {
	case map[string]any:
		terms := make([]ast.Term, len(v))
		kvs := make([][2]*ast.Term, 0, len(v))
		for k, e := range v {
			val, err := inputValue(e)
			if err != nil {
				return nil, err
			}
			key := fieldTerms[k]
			if key == nil {
				key = ast.StringTerm(k)
			}
			t := &terms[len(kvs)]
			t.Value = val
			kvs = append(kvs, [2]*ast.Term{key, t})
		}
		return ast.NewObject(kvs...), nil
	case []any:
		terms := make([]ast.Term, len(v))
		ptrs := make([]*ast.Term, len(v))
		for i, e := range v {
			val, err := inputValue(e)
			if err != nil {
				return nil, err
			}
			terms[i].Value = val
			ptrs[i] = &terms[i]
		}
		return ast.NewArray(ptrs...), nil
	case string:
		return ast.String(v), nil
	case json.Number:
		if t := ast.InternedIntNumberTermFromString(string(v)); t != nil {
			return t.Value, nil
		}
		return ast.NumberChecked(string(v))
	case bool:
		return ast.Boolean(v), nil
	case nil:
		return ast.NullValue, nil
	}
	return nil, fmt.Errorf("input: a %T is not a decoded JSON value", x)
}
