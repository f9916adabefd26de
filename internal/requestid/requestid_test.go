package requestid

import (
	"context"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for id, want := range map[string]bool{
		"abc":                   true,
		"lb-1.req_9":            true,
		strings.Repeat("a", 64): true,
		New():                   true,
		"":                      false,
		strings.Repeat("a", 65): false,
		"a b":                   false,
		"a\nb":                  false,
		"<b>":                   false,
		"a/b":                   false,
		"é":                     false,
		"id=1;code=123456":      false,
	} {
		if got := Valid(id); got != want {
			t.Errorf("Valid(%q) = %t, want %t", id, got, want)
		}
	}
}

func TestContext(t *testing.T) {
	if ID(context.Background()) != "" || Tenant(context.Background()) != "" {
		t.Error("a context the server did not name has an ID or a tenant")
	}
	SetTenant(context.Background(), "ten_x") // nothing to record it in; must not panic
	ctx := With(context.Background(), "req_1")
	SetTenant(ctx, "ten_a")
	if ID(ctx) != "req_1" || Tenant(ctx) != "ten_a" {
		t.Errorf("ID %q tenant %q", ID(ctx), Tenant(ctx))
	}
	if a, b := New(), New(); a == b {
		t.Errorf("two new IDs are both %s", a)
	}
}
