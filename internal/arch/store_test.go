package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeAllowed are the store methods a front door may still call through
// what it was given: the command line names the database it migrated.
var storeAllowed = map[string]bool{"Dialect": true}

// Front doors call the engine and the directory, never the store: a method
// called on a field named Store (an engine's, a server's) in a front door's
// code is a rule enforced somewhere else than the engine (issue 9).
func TestFrontDoorsDoNotCallTheStore(t *testing.T) {
	for _, pkg := range frontDoors {
		dir := filepath.Join("..", strings.TrimPrefix(pkg, module+"/internal/"))
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			for _, where := range storeCalls(t, f) {
				t.Errorf("%s calls the store directly: %s", pkg, where)
			}
		}
	}
}

// storeCalls lists the calls x.Store.M(…) in a file, other than storeAllowed.
func storeCalls(t *testing.T, file string) []string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		m, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if s, ok := m.X.(*ast.SelectorExpr); ok && s.Sel.Name == "Store" && !storeAllowed[m.Sel.Name] {
			found = append(found, fset.Position(call.Pos()).String()+" "+m.Sel.Name)
		}
		return true
	})
	return found
}

func TestStoreCallsFound(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.go")
	src := "package x\nfunc f() {\n\ta.Engine.Store.UserByID(nil)\n\tc.srv.Store.Dialect()\n\ta.Engine.Policy()\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := storeCalls(t, file)
	if len(got) != 1 || !strings.HasSuffix(got[0], " UserByID") {
		t.Fatalf("found %v, want the one UserByID call", got)
	}
}
