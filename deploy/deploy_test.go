// Package deploy holds the deployment files (Dockerfile at the repository
// root, compose.yaml and custodian.service here) and the tests that check
// the hardening they promise, since containers cannot run on the machines
// that build Custodian.
package deploy

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type composeService struct {
	Image       string            `yaml:"image"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
	SecurityOpt []string          `yaml:"security_opt"`
	Secrets     []string          `yaml:"secrets"`
	Environment map[string]string `yaml:"environment"`
	Networks    []string          `yaml:"networks"`
	Ports       []string          `yaml:"ports"`
	Tmpfs       []string          `yaml:"tmpfs"`
	Volumes     []string          `yaml:"volumes"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		Internal bool `yaml:"internal"`
	} `yaml:"networks"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// readCompose reads compose.yaml, the part of it the tests check.
func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml is not valid YAML: %v", err)
	}
	return c
}

func TestComposeHardening(t *testing.T) {
	c := readCompose(t)
	for _, name := range []string{"custodian", "db"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("service %s missing", name)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v, cap_drop %v, security_opt %v", name, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		for _, sec := range s.Secrets {
			if _, ok := c.Secrets[sec]; !ok {
				t.Errorf("%s uses undeclared secret %s", name, sec)
			}
		}
	}
	db := c.Services["db"]
	if len(db.Ports) != 0 || len(db.Networks) != 1 || !c.Networks[db.Networks[0]].Internal {
		t.Errorf("the database must sit only on an internal network, unpublished: ports %v networks %v", db.Ports, db.Networks)
	}
	app := c.Services["custodian"]
	for k, v := range app.Environment {
		if strings.Contains(k, "DATABASE_URL") || strings.Contains(k, "MASTER_KEY") {
			if !strings.HasSuffix(k, "_FILE") || !strings.HasPrefix(v, "/run/secrets/") {
				t.Errorf("secret %s passed as a value, not a secret file", k)
			}
		}
	}
	if app.Environment["CUSTODIAN_ENV"] != "production" || app.Environment["CUSTODIAN_ALLOWED_HOSTS"] == "" {
		t.Errorf("custodian environment %v", app.Environment)
	}
}

// unitSettings reads a systemd unit's Key=Value lines (all sections).
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a setting: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

func TestSystemdUnitHardening(t *testing.T) {
	s := unitSettings(t, "custodian.service")
	want := map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "StateDirectory": "custodian",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	}
	for k, v := range want {
		if len(s[k]) == 0 || s[k][0] != v {
			t.Errorf("%s = %v, want %q", k, s[k], v)
		}
	}
	if !slices.Contains(s["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter %v", s["SystemCallFilter"])
	}
	if len(s["LoadCredential"]) < 2 {
		t.Errorf("LoadCredential %v", s["LoadCredential"])
	}
	for _, e := range s["Environment"] {
		if (strings.Contains(e, "MASTER_KEY") || strings.Contains(e, "DATABASE_URL")) && !strings.Contains(e, "_FILE=%d/") {
			t.Errorf("secret not passed as a credential file: %s", e)
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "FROM gcr.io/distroless/static", "USER 65532:65532", `VOLUME ["/data"]`} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(d, "\nFROM ") < 2 && !strings.HasPrefix(d, "FROM") {
		t.Error("Dockerfile is not multi-stage")
	}
}
