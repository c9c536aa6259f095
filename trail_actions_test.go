package custodian

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestAuditActionsListsEveryAction finds every Action… string constant of
// the package and checks that AuditActions lists it once, so that a new
// action cannot be left out of the audit page's filter.
func TestAuditActionsListsEveryAction(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var want []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Action") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					want = append(want, v)
				}
			}
			return true
		})
	}
	got := AuditActions()
	if len(want) < 40 {
		t.Fatalf("found only %d actions: %v", len(want), want)
	}
	for _, a := range want {
		if n := len(slices.DeleteFunc(slices.Clone(got), func(g string) bool { return g != a })); n != 1 {
			t.Errorf("AuditActions lists %q %d times", a, n)
		}
	}
	// Each is a family and a name, one dot apart, in the characters the
	// trail's family index trims (sqlstore, migration 00060).
	shape := regexp.MustCompile(`^[a-z0-9_]+\.[a-z0-9_]+$`)
	for _, a := range got {
		if !shape.MatchString(a) {
			t.Errorf("action %q is not family.name in a-z, 0-9 and _", a)
		}
	}
	if len(got) != len(want) {
		t.Errorf("AuditActions has %d entries, the package %d actions", len(got), len(want))
	}
}
