package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Patch applies a JSON merge patch (RFC 7396) to p: the settings it names
// change, a null puts one back to its default, and every other setting
// stays as it is. The result is validated like a whole document.
func Patch(p Policy, patch []byte) (Policy, error) {
	var changes map[string]any
	if err := json.Unmarshal(patch, &changes); err != nil {
		return Policy{}, fmt.Errorf("policy patch: a JSON object of the settings to change: %w", err)
	}
	cur, err := toMap(p)
	if err != nil {
		return Policy{}, err
	}
	def, err := toMap(Default())
	if err != nil {
		return Policy{}, err
	}
	merge(cur, def, changes)
	doc, err := json.Marshal(cur)
	if err != nil {
		return Policy{}, err
	}
	return Parse(doc)
}

func toMap(p Policy) (map[string]any, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// merge applies changes to cur; a null resets to def's value.
func merge(cur, def, changes map[string]any) {
	for k, v := range changes {
		if v == nil {
			if d, ok := def[k]; ok {
				cur[k] = d
			} else {
				delete(cur, k)
			}
			continue
		}
		sub, isObj := v.(map[string]any)
		curSub, curObj := cur[k].(map[string]any)
		if isObj && curObj {
			defSub, _ := def[k].(map[string]any)
			merge(curSub, defSub, sub)
			continue
		}
		cur[k] = v
	}
}

// Resets lists the settings (dotted paths) a whole document doc would put
// back to their defaults although p has them otherwise: those the document
// leaves out. A tenant replacing its policy from a file is told of them.
func Resets(p Policy, doc []byte) ([]string, error) {
	var given map[string]any
	if err := json.Unmarshal(doc, &given); err != nil {
		return nil, err
	}
	cur, err := toMap(p)
	if err != nil {
		return nil, err
	}
	def, err := toMap(Default())
	if err != nil {
		return nil, err
	}
	var out []string
	resets("", cur, def, given, &out)
	slices.Sort(out)
	return out, nil
}

func resets(prefix string, cur, def, given map[string]any, out *[]string) {
	for k, v := range cur {
		g, present := given[k]
		cv, curObj := v.(map[string]any)
		dv, defObj := def[k].(map[string]any)
		if !present && curObj && defObj {
			// A group left out resets each of its settings: name them.
			resets(prefix+"."+k, cv, dv, map[string]any{}, out)
			continue
		}
		if !present {
			if !equalJSON(v, def[k]) {
				*out = append(*out, strings.TrimPrefix(prefix+"."+k, "."))
			}
			continue
		}
		if gv, ok := g.(map[string]any); ok && curObj {
			resets(prefix+"."+k, cv, dv, gv, out)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
