package password

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Policy is a tenant's password rules. The defaults follow NIST SP 800-63B;
// every rule is configurable because some tenants must mirror a legacy
// system (for example a 14-character maximum with composition rules).
type Policy struct {
	MinLength     int  `json:"min_length" yaml:"min_length"`
	MaxLength     int  `json:"max_length" yaml:"max_length"`
	RequireUpper  bool `json:"require_upper" yaml:"require_upper"`
	RequireLower  bool `json:"require_lower" yaml:"require_lower"`
	RequireDigit  bool `json:"require_digit" yaml:"require_digit"`
	RequireSymbol bool `json:"require_symbol" yaml:"require_symbol"`
	RejectCommon  bool `json:"reject_common" yaml:"reject_common"`
	RejectLoginID bool `json:"reject_login_id" yaml:"reject_login_id"`
}

// maxPolicyLength caps MaxLength so a policy cannot invite multi-megabyte
// passwords into the hasher.
const maxPolicyLength = 1024

// minLoginIDMatch is the shortest login ID that RejectLoginID looks for;
// a one- or two-character login ID would forbid most passwords.
const minLoginIDMatch = 3

// DefaultPolicy returns the NIST SP 800-63B rules for a service with MFA:
// at least 8 characters, long passphrases allowed, no composition rules,
// and no common or login-ID-based passwords.
func DefaultPolicy() Policy {
	return Policy{MinLength: 8, MaxLength: 128, RejectCommon: true, RejectLoginID: true}
}

// Validate reports every way the policy itself is unusable.
func (p Policy) Validate() error {
	var errs []error
	if p.MinLength < 1 {
		errs = append(errs, fmt.Errorf("min_length: %d is less than 1", p.MinLength))
	}
	if p.MaxLength < p.MinLength {
		errs = append(errs, fmt.Errorf("max_length: %d is less than min_length %d", p.MaxLength, p.MinLength))
	}
	if p.MaxLength > maxPolicyLength {
		errs = append(errs, fmt.Errorf("max_length: %d is more than %d", p.MaxLength, maxPolicyLength))
	}
	return errors.Join(errs...)
}

// Problem is one reason a password is refused. Code is stable for clients;
// Message tells the person what to do.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Limit is the length too_short and too_long name, for translations.
	Limit int `json:"-"`
}

// Check returns every problem with password, so the person can fix them all
// in one go. Length counts Unicode code points, as NIST requires.
func (p Policy) Check(password, loginID string) []Problem {
	var probs []Problem
	add := func(code, msg string, limit ...int) {
		pr := Problem{Code: code, Message: msg}
		if len(limit) > 0 {
			pr.Limit = limit[0]
		}
		probs = append(probs, pr)
	}

	if !utf8.ValidString(password) {
		add("invalid_encoding", "Your password contains characters that could not be read. Type it again.")
	}
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		add("too_short", fmt.Sprintf("Use at least %d characters.", p.MinLength), p.MinLength)
	}
	if n > p.MaxLength {
		add("too_long", fmt.Sprintf("Use at most %d characters.", p.MaxLength), p.MaxLength)
	}

	var upper, lower, digit, symbol bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			symbol = true
		}
	}
	if p.RequireUpper && !upper {
		add("missing_upper", "Add at least one uppercase letter.")
	}
	if p.RequireLower && !lower {
		add("missing_lower", "Add at least one lowercase letter.")
	}
	if p.RequireDigit && !digit {
		add("missing_digit", "Add at least one digit.")
	}
	if p.RequireSymbol && !symbol {
		add("missing_symbol", "Add at least one symbol, such as ! or #.")
	}

	lowered := strings.ToLower(password)
	if p.RejectCommon && isCommon(lowered) {
		add("common", "This password is too common. Choose one that is harder to guess.")
	}
	if p.RejectLoginID && utf8.RuneCountInString(loginID) >= minLoginIDMatch &&
		strings.Contains(lowered, strings.ToLower(loginID)) {
		add("contains_login_id", "Don't include your login ID in your password.")
	}
	return probs
}

//go:embed common.txt
var commonText string

var common = func() map[string]struct{} {
	set := make(map[string]struct{})
	for line := range strings.Lines(commonText) {
		if w := strings.TrimSpace(line); w != "" {
			set[strings.ToLower(w)] = struct{}{}
		}
	}
	return set
}()

func isCommon(lowered string) bool {
	_, ok := common[lowered]
	return ok
}
