// Package questions is the security-questions factor (A8, kind
// "questions"): a policy's number of distinct questions from a catalogue,
// each answer hashed with argon2id and the set sealed under the master key.
// It opens only the self-service portal, never an application, and only
// when policy lets the questions stand in for a second factor there.
package questions

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Kind is the security questions' factor kind. Policy cannot allow it for
// applications.
const Kind = "questions"

// ErrWrongAnswer: at least one answer did not match (E41).
var ErrWrongAnswer = factor.Refusal("wrong_security_answer", "security answer incorrect")

// IDs is the catalogue of questions; the portal holds the wording of each
// in every language.
var IDs = []string{
	"first_pet", "birth_city", "first_school", "childhood_friend", "first_car",
	"mother_birth_city", "first_job", "favourite_teacher", "first_street", "favourite_book",
}

// Factor is the security questions.
type Factor struct{}

var (
	_ factor.Verifier = Factor{}
	_ factor.Gate     = Factor{}
	_ factor.Opener   = Factor{}
)

func (Factor) Kind() string { return Kind }

// Offered: only a portal sign-in, and only when policy says so.
func (Factor) Offered(p policy.Policy, portal bool) bool {
	return portal && p.Portal.QuestionsSignIn && p.Portal.SecurityQuestions > 0
}

// OpensApplications is false: the questions never stand in for a method
// that opens applications, so they are neither a first enrolment nor the
// last method.
func (Factor) OpensApplications() bool { return false }

// Answer is one question and the person's answer.
type Answer struct {
	QuestionID string
	Text       string
}

type config struct {
	Questions []string `json:"questions"`
}

// normalize makes answers forgiving of case and spacing.
func normalize(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func aad(userID string) []byte { return []byte("questions\x00" + userID) }

// Validate checks that answers are exactly n distinct catalogue questions,
// each with an answer of 3 to 100 characters.
func Validate(answers []Answer, n int) error {
	var errs validate.Errors
	seen := map[string]bool{}
	for i, a := range answers {
		qf, af := fmt.Sprintf("question_%d", i+1), fmt.Sprintf("answer_%d", i+1)
		switch {
		case a.QuestionID == "":
			errs.Add(qf, "required", "Choose a question.")
		case !slices.Contains(IDs, a.QuestionID):
			errs.Add(qf, "invalid", "Choose a question from the list.")
		case seen[a.QuestionID]:
			errs.Add(qf, "duplicate", "Choose a different question: each question may be used once.")
		}
		seen[a.QuestionID] = true
		switch norm := normalize(a.Text); {
		case norm == "":
			errs.Add(af, "required", "Answer is required. Enter an answer you will remember.")
		case utf8.RuneCountInString(norm) < 3:
			errs.Add(af, "too_short", "Answer must be at least 3 characters long.")
		case utf8.RuneCountInString(norm) > 100:
			errs.Add(af, "too_long", "Answer must be at most 100 characters long.")
		}
	}
	if len(answers) != n {
		errs.Add("questions", "count", fmt.Sprintf("Answer exactly %d different questions.", n))
	}
	return errs.Err()
}

// Seal hashes every answer and seals the set for the user: the factor's
// secret and its configuration (the question ids, in the order chosen).
func Seal(ctx context.Context, h *password.Hasher, keys *keyring.Keyring, userID string, answers []Answer) (secret []byte, cfg string, err error) {
	hashes := make(map[string]string, len(answers))
	ids := make([]string, 0, len(answers))
	for _, a := range answers {
		if hashes[a.QuestionID], err = h.Hash(ctx, normalize(a.Text)); err != nil {
			return nil, "", err
		}
		ids = append(ids, a.QuestionID)
	}
	raw, _ := json.Marshal(hashes)
	if secret, err = keys.Seal(raw, aad(userID)); err != nil {
		return nil, "", err
	}
	c, _ := json.Marshal(config{Questions: ids})
	return secret, string(c), nil
}

// Asked returns the ids of the questions a factor holds.
func Asked(f *store.Factor) ([]string, error) {
	var c config
	if err := json.Unmarshal([]byte(f.Config), &c); err != nil {
		return nil, fmt.Errorf("questions factor %s: %w", f.ID, err)
	}
	return c.Questions, nil
}

// Verify checks every answer as one guess. The argon2id work happens here,
// before the write transaction, so the single SQLite writer is not held by
// it; the result is acted on only after the guess was charged, so past the
// limit nothing is revealed (invariant 1).
func (Factor) Verify(ctx context.Context, env factor.Env, f *store.Factor, r factor.Response) (factor.Attempt, error) {
	raw, err := env.Keys.Open(f.Secret, aad(env.User.ID))
	if err != nil {
		return factor.Attempt{}, fmt.Errorf("open questions of %s: %w", env.User.ID, err)
	}
	var hashes map[string]string
	if err := json.Unmarshal(raw, &hashes); err != nil {
		return factor.Attempt{}, fmt.Errorf("questions of %s: %w", env.User.ID, err)
	}
	match := len(hashes) > 0
	for id, h := range hashes {
		ok, _, err := env.Hasher.Verify(ctx, h, normalize(r.Answers[id]))
		if err != nil {
			return factor.Attempt{}, err
		}
		match = match && ok
	}
	return factor.Attempt{
		Kind: Kind, Detail: map[string]any{"factor": f.ID},
		Check: func(context.Context, store.Queries) (bool, string, error) {
			if !match {
				return false, "wrong_answer", nil
			}
			return true, "", nil
		},
		Wrong: func(string) error { return ErrWrongAnswer },
	}, nil
}
