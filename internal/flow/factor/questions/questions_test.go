package questions_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testutil/factortest"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/questions"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Cheap argon2id parameters: the factor's behaviour does not depend on cost.
var testParams = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func answers(pairs ...string) []questions.Answer {
	var as []questions.Answer
	for i := 0; i+1 < len(pairs); i += 2 {
		as = append(as, questions.Answer{QuestionID: pairs[i], Text: pairs[i+1]})
	}
	return as
}

// codes lists field:code of every violation, in order.
func codes(err error) []string {
	var errs validate.Errors
	if !errors.As(err, &errs) {
		return nil
	}
	var out []string
	for _, fe := range errs {
		out = append(out, fe.Field+":"+fe.Code)
	}
	return out
}

// A8: exactly N distinct questions from the catalogue, each answered.
func TestValidate(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, c := range []struct {
		name string
		as   []questions.Answer
		n    int
		want []string
	}{
		{"valid", answers("first_pet", "Rex", "birth_city", "Lima"), 2, nil},
		{"answer of exactly 100", answers("first_pet", long), 1, nil},
		{"answer of 3 after trimming", answers("first_pet", "  R  x  "), 1, nil},
		{"too few", answers("first_pet", "Rex"), 2, []string{"questions:count"}},
		{"too many", answers("first_pet", "Rex", "birth_city", "Lima", "first_car", "Ford"), 2, []string{"questions:count"}},
		{"none", nil, 4, []string{"questions:count"}},
		{"duplicate", answers("first_pet", "Rex", "first_pet", "Tom"), 2, []string{"question_2:duplicate"}},
		{"unknown id", answers("first_pet", "Rex", "mothers_maiden_name", "Smith"), 2, []string{"question_2:invalid"}},
		{"no question", answers("", "Rex"), 1, []string{"question_1:required"}},
		{"empty answer", answers("first_pet", ""), 1, []string{"answer_1:required"}},
		{"blank answer", answers("first_pet", " \t "), 1, []string{"answer_1:required"}},
		{"too short", answers("first_pet", "Re"), 1, []string{"answer_1:too_short"}},
		{"too short after collapsing spaces", answers("first_pet", " R   "), 1, []string{"answer_1:too_short"}},
		{"too long", answers("first_pet", long+"x"), 1, []string{"answer_1:too_long"}},
		{"every problem at once", answers("first_pet", "", "first_pet", "Re", "nope", "Rex"), 4,
			[]string{"answer_1:required", "question_2:duplicate", "answer_2:too_short", "question_3:invalid", "questions:count"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := questions.Validate(c.as, c.n)
			if got := codes(err); !slices.Equal(got, c.want) {
				t.Errorf("Validate = %v (%v), want %v", got, err, c.want)
			}
		})
	}
}

// The rule and its message say "characters": an answer in Spanish with
// accents counts as many characters as it has letters.
func TestValidateCountsCharacters(t *testing.T) {
	accented := strings.Repeat("ñ", 100)
	if err := questions.Validate(answers("first_pet", accented), 1); err != nil {
		t.Errorf("an answer of 100 characters (200 bytes) refused: %v", codes(err))
	}
}

func TestOfferedAndOpensApplications(t *testing.T) {
	on := policy.Default()
	on.Portal.SecurityQuestions, on.Portal.QuestionsSignIn = 4, true
	noSignIn := on
	noSignIn.Portal.QuestionsSignIn = false
	none := on
	none.Portal.SecurityQuestions = 0
	// Policy cannot allow the kind for applications; listing it changes nothing.
	listed := on
	listed.AllowedFactors = append(slices.Clone(on.AllowedFactors), questions.Kind)
	for _, c := range []struct {
		name   string
		p      policy.Policy
		portal bool
		want   bool
	}{
		{"portal, policy lets them sign in", on, true, true},
		{"application (A8: never)", on, false, false},
		{"application even when listed", listed, false, false},
		{"portal, sign-in with questions off", noSignIn, true, false},
		{"portal, questions off", none, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := factor.Offered(questions.Factor{}, c.p, c.portal); got != c.want {
				t.Errorf("Offered = %v, want %v", got, c.want)
			}
		})
	}
	if factor.OpensApplications(questions.Factor{}) {
		t.Error("security questions count as a method that opens applications")
	}
	if (questions.Factor{}).Kind() != questions.Kind || questions.Kind != "questions" {
		t.Errorf("Kind() = %q", (questions.Factor{}).Kind())
	}
}

func TestSealAndVerify(t *testing.T) {
	ctx := t.Context()
	keys := factortest.Keys(t)
	h := password.NewHasher(testParams, 4, time.Second)
	chosen := answers("first_pet", "Mr. Whiskers", "birth_city", "San José", "first_car", "ford fiesta", "first_job", "Paper round")
	secret, cfg, err := questions.Seal(ctx, h, keys, "usr_alice", chosen)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range chosen {
		if strings.Contains(string(secret), a.Text) || strings.Contains(cfg, a.Text) {
			t.Fatalf("answer %q stored in clear", a.Text)
		}
	}
	f := &store.Factor{ID: "fac_q", Kind: questions.Kind, Secret: secret, Config: cfg}
	asked, err := questions.Asked(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"first_pet", "birth_city", "first_car", "first_job"}; !slices.Equal(asked, want) {
		t.Errorf("Asked = %v, want %v in the order chosen", asked, want)
	}
	alice := &store.User{ID: "usr_alice"}
	env := factor.Env{Now: time.Date(2030, 3, 17, 12, 0, 0, 0, time.UTC), Policy: policy.Default(), User: alice, Keys: keys, Hasher: h, Lang: "en"}
	right := map[string]string{"first_pet": "Mr. Whiskers", "birth_city": "San José", "first_car": "ford fiesta", "first_job": "Paper round"}
	with := func(id, text string) map[string]string {
		m := maps.Clone(right)
		m[id] = text
		return m
	}
	without := func(id string) map[string]string {
		m := maps.Clone(right)
		delete(m, id)
		return m
	}
	for _, c := range []struct {
		name    string
		answers map[string]string
		ok      bool
	}{
		{"as typed", right, true},
		{"case and spacing forgiven", with("first_pet", "  MR.   whiskers "), true},
		{"tabs and newlines are spacing", with("first_job", "paper\tround\n"), true},
		{"one wrong", with("first_car", "ford focus"), false},
		{"accent is not forgiven", with("birth_city", "San Jose"), false},
		{"one missing", without("first_job"), false},
		{"answer given to another question", with("first_pet", "ford fiesta"), false},
		{"none", map[string]string{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := questions.Factor{}.Verify(ctx, env, f, factor.Response{Answers: c.answers})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if a.Kind != questions.Kind || a.Detail["factor"] != f.ID {
				t.Errorf("attempt Kind %q Detail %v, want the kind and the factor", a.Kind, a.Detail)
			}
			// The questions touch no storage: the charge in the runner's
			// transaction is all their guess needs.
			ok, reason, err := a.Check(ctx, nil)
			if err != nil || ok != c.ok {
				t.Fatalf("Check = %v, %q, %v; want %v", ok, reason, err, c.ok)
			}
			if ok {
				return
			}
			if reason != "wrong_answer" {
				t.Errorf("reason = %q, want wrong_answer", reason)
			}
			if err := a.Wrong(reason); !errors.Is(err, questions.ErrWrongAnswer) || !errors.Is(err, factor.ErrRefused) {
				t.Errorf("Wrong(%q) = %v, want ErrWrongAnswer, a refusal", reason, err)
			}
		})
	}
	t.Run("sealed for another person", func(t *testing.T) {
		bob := *env.User
		bob.ID = "usr_bob"
		other := env
		other.User = &bob
		if _, err := (questions.Factor{}).Verify(ctx, other, f, factor.Response{Answers: right}); !errors.Is(err, keyring.ErrCorrupt) {
			t.Errorf("Verify of another person's questions: err = %v, want keyring.ErrCorrupt", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		if _, err := questions.Asked(&store.Factor{ID: "fac_bad", Config: "{"}); err == nil || !strings.Contains(err.Error(), "fac_bad") {
			t.Errorf("Asked with broken config: err = %v, want an error naming the factor", err)
		}
	})
}
