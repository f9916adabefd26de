package problem

import (
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/validate"
)

// FieldMessage words a field error in lang. English is the message the
// rule wrote; other languages word the rule's code with the field's name
// and limit: the field's own wording of the rule if there is one, else the
// rule's general wording, else a general "not valid".
func FieldMessage(f validate.FieldError, lang string) string {
	words, ok := fieldTexts[Match(lang)]
	if !ok {
		return f.Message
	}
	field := f.Field
	// Numbered fields (answer_2) share the wording of their kind.
	if i := strings.LastIndexByte(field, '_'); i > 0 && strings.Trim(field[i+1:], "0123456789") == "" {
		field = field[:i]
	}
	s, ok := words["rule."+field+"."+f.Code]
	if !ok {
		if s, ok = words["rule."+f.Code]; !ok {
			s = words["rule.invalid"]
		}
	}
	if strings.Contains(s, "{limit}") && f.Limit <= 0 {
		// The limit is in the rule's own message only; better English
		// than a wrong number.
		return f.Message
	}
	label, ok := words["field."+field]
	if !ok {
		label = f.Field
	}
	// {message} is the rule's own words, for rules whose detail only
	// English names (a policy document's keys and limits).
	return fill(s, map[string]string{"field": label, "limit": strconv.Itoa(f.Limit), "message": f.Message})
}
