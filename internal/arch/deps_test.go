package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/countersign/countersign"

// frontDoors are the ways in: each calls the engine and the directory, and
// none may lean on another, so any of them can change or go alone.
var frontDoors = []string{
	module + "/internal/api",
	module + "/internal/portal",
	module + "/internal/voicehook",
	module + "/internal/pushhook",
	module + "/internal/cli",
	module + "/internal/oidc",
	module + "/internal/radius",
	module + "/internal/console",
}

const (
	engine    = module + "/internal/flow"
	assembler = module + "/internal/server"
	sqlStore  = module + "/internal/store/sqlstore"
)

// testOnly names what only tests may link: the browser driver, the SMTP
// server the email tests talk to, and the helpers built for tests.
func testOnly(pkg goPackage) bool {
	mod := ""
	if pkg.Module != nil {
		mod = pkg.Module.Path
	}
	return pkg.ImportPath == "testing" || strings.HasPrefix(pkg.ImportPath, "testing/") ||
		pkg.ImportPath == "net/http/httptest" ||
		strings.HasPrefix(mod, "github.com/chromedp/") ||
		mod == "github.com/emersion/go-smtp" || mod == "github.com/emersion/go-sasl" ||
		within(pkg.ImportPath, module+"/internal/testutil")
}

func TestBinaryLinksNothingForTests(t *testing.T) {
	pkgs := goList(t, "-deps", module+"/cmd/countersign")
	g := graphOf(pkgs)
	for _, p := range pkgs {
		if testOnly(p) {
			t.Errorf("countersign links %s, which only tests may use: %s", p.ImportPath, short(g.path(module+"/cmd/countersign", p.ImportPath)))
		}
	}
}

func TestTestOnly(t *testing.T) {
	for _, tc := range []struct {
		pkg, mod string
		want     bool
	}{
		{"testing", "", true},
		{"testing/fstest", "", true},
		{"net/http/httptest", "", true},
		{"github.com/chromedp/cdproto/page", "github.com/chromedp/cdproto", true},
		{"github.com/emersion/go-smtp", "github.com/emersion/go-smtp", true},
		{module + "/internal/testutil/pgtest", module, true},
		{"net/http", "", false},
		{"github.com/wneessen/go-mail/smtp", "github.com/wneessen/go-mail", false},
		{module + "/internal/delivery/smtpmail", module, false},
	} {
		p := goPackage{ImportPath: tc.pkg}
		if tc.mod != "" {
			p.Module = &struct{ Path string }{tc.mod}
		}
		if got := testOnly(p); got != tc.want {
			t.Errorf("testOnly(%s) = %t, want %t", tc.pkg, got, tc.want)
		}
	}
}

func TestImportRules(t *testing.T) {
	g := graphOf(goList(t, module+"/..."))
	for _, v := range check(g) {
		t.Error(v)
	}
}

// The rules themselves, on made-up graphs, so a mistake in them cannot pass
// unnoticed on a tree that happens to obey them.
func TestCheck(t *testing.T) {
	const (
		api, portal, cli = module + "/internal/api", module + "/internal/portal", module + "/internal/cli"
		oidc, console    = module + "/internal/oidc/token", module + "/internal/console"
		helper, problem  = module + "/internal/helper", module + "/internal/problem"
		factor           = engine + "/factor/totp"
	)
	for _, tc := range []struct {
		name string
		g    graph
		want []string
	}{
		{"front doors share a neutral package", graph{portal: {problem, engine}, api: {problem, engine}}, nil},
		{"front door imports another", graph{portal: {api}}, []string{"internal/portal → internal/api"}},
		{"front door to come imports another", graph{oidc: {helper}, helper: {console}}, []string{"internal/oidc/token → internal/helper → internal/console"}},
		{"the command line starts the server", graph{cli: {assembler}, assembler: {api, portal, sqlStore}}, nil},
		{"front door imports the SQL store", graph{api: {sqlStore}}, []string{"internal/api → internal/store/sqlstore"}},
		{"front door reaches the SQL store", graph{api: {helper}, helper: {sqlStore}}, []string{"internal/api → internal/helper → internal/store/sqlstore"}},
		{"engine imports a front door", graph{factor: {helper}, helper: {portal}}, []string{"internal/flow/factor/totp → internal/helper → internal/portal"}},
		{"engine imports the server", graph{engine: {assembler}, assembler: {api}}, []string{"internal/flow → internal/server"}},
		{"a front door's own packages", graph{api: {api + "/openapi"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range check(tc.g) {
				got = append(got, v.path)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

type violation struct{ rule, path string }

func (v violation) String() string { return v.rule + ": " + v.path }

// check applies the import rules to every package of g, naming for each
// forbidden package the shortest way it is reached. A front door may reach
// anything through the server, which exists to assemble them all.
func check(g graph) []violation {
	var out []violation
	for _, from := range g.sorted() {
		var forbidden func(to string) string
		through := func(string) bool { return true }
		switch door := frontDoorOf(from); {
		case door != "":
			forbidden = func(to string) string {
				if d := frontDoorOf(to); d != "" && d != door {
					return "a front door imports another front door"
				}
				if within(to, sqlStore) {
					return "a front door imports the SQL store"
				}
				return ""
			}
			through = func(p string) bool { return p != assembler }
		case within(from, engine):
			forbidden = func(to string) string {
				if frontDoorOf(to) != "" || within(to, assembler) {
					return "the engine imports a front door or the server"
				}
				return ""
			}
		default:
			continue
		}
		for _, p := range g.reach(from, func(p string) bool { return forbidden(p) == "" && through(p) }) {
			if rule := forbidden(p[len(p)-1]); rule != "" {
				out = append(out, violation{rule, short(p)})
			}
		}
	}
	return out
}

func short(path []string) string {
	var out []string
	for _, p := range path {
		out = append(out, strings.TrimPrefix(p, module+"/"))
	}
	return strings.Join(out, " → ")
}

func frontDoorOf(pkg string) string {
	for _, d := range frontDoors {
		if within(pkg, d) {
			return d
		}
	}
	return ""
}

func within(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

// graph maps each package to the packages it imports, test files aside.
type graph map[string][]string

func graphOf(pkgs []goPackage) graph {
	g := graph{}
	for _, p := range pkgs {
		g[p.ImportPath] = p.Imports
	}
	return g
}

func (g graph) sorted() []string {
	var out []string
	for p := range g {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// reach returns the shortest import path from from to each package it
// reaches, going on only through the packages pass allows.
func (g graph) reach(from string, pass func(string) bool) [][]string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	var out [][]string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p != from {
			out = append(out, g.chain(prev, p))
			if !pass(p) {
				continue
			}
		}
		for _, next := range g[p] {
			if _, seen := prev[next]; !seen {
				prev[next] = p
				queue = append(queue, next)
			}
		}
	}
	return out
}

func (g graph) path(from, to string) []string {
	for _, p := range g.reach(from, func(string) bool { return true }) {
		if p[len(p)-1] == to {
			return p
		}
	}
	return []string{to}
}

func (g graph) chain(prev map[string]string, to string) []string {
	var out []string
	for p := to; p != ""; p = prev[p] {
		out = append(out, p)
	}
	slices.Reverse(out)
	return out
}

type goPackage struct {
	ImportPath string
	Imports    []string
	Module     *struct{ Path string }
}

func goList(t *testing.T, args ...string) []goPackage {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list packages with")
	}
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list", "-e", "-json=ImportPath,Imports,Module,Error"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			goPackage
			Error *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p.goPackage)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %s found no packages", strings.Join(args, " "))
	}
	return pkgs
}
