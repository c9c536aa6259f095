package client_test

import (
	"bytes"
	"encoding/json"
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
