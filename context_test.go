package custodian_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestContextValues sets every value a context can carry and reads it back.
func TestContextValues(t *testing.T) {
	ctx := context.Background()
	if custodian.ActorFrom(ctx) != custodian.Anonymous || custodian.PrincipalFrom(ctx) != nil || custodian.PurposeFrom(ctx) != "" || custodian.OriginFrom(ctx) != (custodian.Origin{}) {
		t.Fatal("an empty context carries values")
	}
	p := &custodian.Principal{User: &custodian.User{ID: "usr_p"}}
	o := custodian.Origin{ClientAddr: "192.0.2.1", RequestID: "req-1"}
	ctx = custodian.WithOrigin(custodian.WithPurpose(custodian.WithPrincipal(ctx, p), "audit"), o)
	if custodian.ActorFrom(ctx) != "usr_p" || custodian.PrincipalFrom(ctx) != p || custodian.PurposeFrom(ctx) != "audit" || custodian.OriginFrom(ctx) != o {
		t.Fatal("a value was lost")
	}
}

// TestContextKeysLiveInContextGo keeps every context value of the package
// in context.go, where one look shows what a context can carry.
func TestContextKeysLiveInContextGo(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if name == "context.go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "WithValue" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "context" {
					t.Errorf("%s: context.WithValue outside context.go", fset.Position(sel.Pos()))
				}
			}
			return true
		})
	}
}
