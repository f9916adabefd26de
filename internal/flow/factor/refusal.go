package factor

import (
	"errors"

	"github.com/countersign/countersign/internal/problem"
)

// ErrRefused is what every wrong response to a factor is, whatever its
// kind: test with errors.Is(err, ErrRefused) to tell a refusal from a failure.
var ErrRefused = errors.New("second factor refused")

// refusal is a factor's own wrong-response error: its catalogue entry says
// what is true for that factor, and it is also ErrRefused.
type refusal struct{ error }

func (r *refusal) Unwrap() []error { return []error{r.error, ErrRefused} }

// Refusal returns a sentinel for a wrong response to a factor, whose public
// form is the catalogue entry name.
func Refusal(name, text string) error { return &refusal{problem.Domain(name, text)} }
