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
	cur, def, err := withDefaults(p)
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

// withDefaults is p and the default policy as JSON maps.
func withDefaults(p Policy) (cur, def map[string]any, err error) {
	if cur, err = toMap(p); err != nil {
		return nil, nil, err
	}
	def, err = toMap(Default())
	return cur, def, err
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
	cur, def, err := withDefaults(p)
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

// KeyPatch builds a merge patch from settings written name=value, the name
// dotted for nested settings (portal.session_idle) and the value JSON (5,
// false, "30m"; text that is not JSON is taken as a string; null resets).
func KeyPatch(pairs []string) ([]byte, error) {
	patch := map[string]any{}
	for _, kv := range pairs {
		name, raw, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: write name=value, for example mfa_attempts=5", kv)
		}
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			v = raw
		}
		m := patch
		parts := strings.Split(name, ".")
		for _, part := range parts[:len(parts)-1] {
			next, ok := m[part].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[part] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return json.Marshal(patch)
}

// Setting is one setting of a policy, named as KeyPatch names it, with its
// value and default written as JSON.
type Setting struct {
	Key, Value, Default string
}

// Settings lists every setting of p in name order, nested ones dotted.
func Settings(p Policy) ([]Setting, error) {
	cur, def, err := withDefaults(p)
	if err != nil {
		return nil, err
	}
	var out []Setting
	flatten("", cur, def, &out)
	slices.SortFunc(out, func(a, b Setting) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func flatten(prefix string, cur, def map[string]any, out *[]Setting) {
	for k, v := range cur {
		d := def[k]
		if m, ok := v.(map[string]any); ok {
			dm, _ := d.(map[string]any)
			flatten(prefix+k+".", m, dm, out)
			continue
		}
		*out = append(*out, Setting{Key: prefix + k, Value: compact(v), Default: compact(d)})
	}
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
