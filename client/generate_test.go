package client_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/client"
)

// TestTypesAreGenerated regenerates the types from the document with the
// pinned generator and fails while types.gen.go differs: run go generate
// ./client/ after changing http/openapi.json.
func TestTypesAreGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the generator")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go is not on the PATH")
		}
		t.Skip("go is not on the PATH")
	}
	cmd := exec.Command(goCmd, "tool", "oapi-codegen", "-config", "oapi-codegen.yaml", "../http/openapi.json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fresh, err := cmd.Output()
	if err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, stderr.String())
	}
	committed, err := os.ReadFile("types.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("types.gen.go is stale: run go generate ./client/")
	}
}

// TestCodesAreTheDocumentsCodes keeps the Code constants equal to the
// problem codes the document lists.
func TestCodesAreTheDocumentsCodes(t *testing.T) {
	raw, err := os.ReadFile("../http/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Info       struct{ Version string } `json:"info"`
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct{ Description string } `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Version != client.APIVersion {
		t.Errorf("APIVersion %s, the document is %s", client.APIVersion, doc.Info.Version)
	}
	_, list, _ := strings.Cut(doc.Components.Schemas.Problem.Properties.Code.Description, ":")
	documented := regexp.MustCompile(`[a-z_]+`).FindAllString(strings.ReplaceAll(list, " or ", ", "), -1)
	codes := []string{
		client.CodeInvalid, client.CodeMalformed, client.CodeBadHost, client.CodeUnauthorized, client.CodeForbidden,
		client.CodeNotFound, client.CodeMethodNotAllowed, client.CodeConflict, client.CodeGone, client.CodePreconditionFailed,
		client.CodeTooLarge, client.CodeUnsupportedMediaType, client.CodePreconditionRequired, client.CodeTooMany,
		client.CodeInternal, client.CodeUnavailable,
	}
	slices.Sort(documented)
	slices.Sort(codes)
	if !slices.Equal(documented, codes) {
		t.Fatalf("the document lists the codes\n%v\nthe client\n%v", documented, codes)
	}
}

// TestEveryEnumValueHasAConstant fails when the generator derives one Go
// name from two values of an enum of the document: it then keeps one of
// them (which one changes from run to run) and drops the other, and Valid
// refuses a value the server accepts. Name such values in overlay.yaml
// with x-enum-varnames.
func TestEveryEnumValueHasAConstant(t *testing.T) {
	raw, err := os.ReadFile("../http/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{} // sorted values -> where in the document
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if enum, ok := v["enum"].([]any); ok {
				values := make([]string, len(enum))
				for i, e := range enum {
					values[i] = fmt.Sprint(e)
				}
				slices.Sort(values)
				documented[strings.Join(values, "\x00")] = at
			}
			for k, child := range v {
				walk(at+"/"+k, child)
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s/%d", at, i), child)
			}
		}
	}
	walk("", doc)
	if len(documented) == 0 {
		t.Fatal("the document has no enum")
	}

	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "types.gen.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	generated := map[string][]string{} // type -> its constants' values
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			typ, ok := vs.Type.(*ast.Ident)
			if !ok || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			value := constant.StringVal(constant.MakeFromLiteral(lit.Value, lit.Kind, 0))
			generated[typ.Name] = append(generated[typ.Name], value)
		}
	}
	have := map[string]bool{}
	for _, values := range generated {
		slices.Sort(values)
		have[strings.Join(values, "\x00")] = true
	}
	for values, at := range documented {
		if !have[values] {
			t.Errorf("no generated type has a constant for each of the values %q of %s", strings.Split(values, "\x00"), at)
		}
	}
}
