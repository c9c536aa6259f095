package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestComposeServesTLSWithKeysOutsideTheData checks what compose.yaml
// promises an operator: HTTPS only (no plain-HTTP port published, nor the
// HTTPS one on every interface without a choice), the first-admin link at
// the configured host, the keyring and the shred store as secrets (files
// outside every volume), the shred keys in a database of their own apart
// from the customer database, and the audit anchors outside the data
// volume.
func TestComposeServesTLSWithKeysOutsideTheData(t *testing.T) {
	c := readCompose(t)
	app, ok := c.Services["custodian"]
	if !ok {
		t.Fatal("no custodian service")
	}
	// ${VAR:?message} and ${VAR} name the same value.
	variable := regexp.MustCompile(`\$\{(\w+)[^}]*\}`)
	env := map[string]string{}
	for k, v := range app.Environment {
		env[k] = variable.ReplaceAllString(v, "$${$1}")
	}
	_, listenPort, _ := strings.Cut(env["CUSTODIAN_ADDR"], ":")

	// TLS, and the host it is for.
	tlsByACME := env["CUSTODIAN_ACME_HOST"] != ""
	tlsByFiles := env["CUSTODIAN_TLS_CERT"] != "" && env["CUSTODIAN_TLS_KEY"] != ""
	if !tlsByACME && !tlsByFiles {
		t.Fatal("custodian serves without TLS")
	}
	if env["CUSTODIAN_HTTP_ADDR"] != "" {
		t.Error("a plain-HTTP listener is configured; ACME uses tls-alpn-01 on the HTTPS port")
	}
	host := env["CUSTODIAN_ACME_HOST"]
	if env["CUSTODIAN_ALLOWED_HOSTS"] == "" || (tlsByACME && env["CUSTODIAN_ALLOWED_HOSTS"] != host) {
		t.Errorf("allowed hosts %q, want the TLS host %q", env["CUSTODIAN_ALLOWED_HOSTS"], host)
	}
	if !strings.HasPrefix(env["CUSTODIAN_PUBLIC_URL"], "https://") || !strings.Contains(env["CUSTODIAN_PUBLIC_URL"], "${CUSTODIAN_HOST}") {
		t.Errorf("the first-admin link must name the configured host over https: CUSTODIAN_PUBLIC_URL=%q", env["CUSTODIAN_PUBLIC_URL"])
	}

	// Published ports: only the HTTPS listener, on an interface the
	// operator chooses.
	port := regexp.MustCompile(`^(?:(.+):)?(\d+):(\d+)(?:/tcp)?$`)
	if len(app.Ports) == 0 {
		t.Fatal("nothing published")
	}
	for _, p := range app.Ports {
		m := port.FindStringSubmatch(p)
		if m == nil {
			t.Errorf("port %q: want [ADDRESS:]HOST:CONTAINER", p)
			continue
		}
		if m[3] != listenPort {
			t.Errorf("port %q publishes container port %s, which is not the HTTPS listener (%s)", p, m[3], listenPort)
		}
		if m[1] == "" {
			t.Errorf("port %q is bound on every interface with no way to choose one", p)
		}
	}

	// Keys: secrets from files outside the volumes.
	for _, k := range []string{"CUSTODIAN_MASTER_KEY_FILE", "CUSTODIAN_SHRED_STORE_FILE", "CUSTODIAN_DATABASE_URL_FILE"} {
		v := env[k]
		sec := strings.TrimPrefix(v, "/run/secrets/")
		if !strings.HasPrefix(v, "/run/secrets/") || !slices.Contains(app.Secrets, sec) {
			t.Errorf("%s=%q is not one of the service's secrets", k, v)
			continue
		}
		if f := c.Secrets[sec].File; f == "" || !strings.HasPrefix(f, "./secrets/") {
			t.Errorf("secret %s comes from %q, want a file under ./secrets", sec, f)
		}
	}
	for _, k := range []string{"CUSTODIAN_MASTER_KEY", "CUSTODIAN_SHRED_STORE", "CUSTODIAN_DATABASE_URL"} {
		if env[k] != "" {
			t.Errorf("%s given as a value", k)
		}
	}
	mounts := map[string]string{}
	for _, v := range app.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		mounts[strings.Split(dst, ":")[0]] = src
	}
	if mounts["/data"] == "" {
		t.Errorf("no volume at /data: %v", app.Volumes)
	}
	for dst := range mounts {
		if strings.HasPrefix("/run/secrets", dst) {
			t.Errorf("a volume is mounted over the secrets at %s", dst)
		}
	}
	if a := env["CUSTODIAN_ANCHOR_FILE"]; a == "" || strings.HasPrefix(a, "/data/") || mounts[a[:strings.LastIndex(a, "/")]] == "" {
		t.Errorf("CUSTODIAN_ANCHOR_FILE=%q: want a file on a volume of its own, outside /data", a)
	}

	// The shred keys live in another database server, on an internal
	// network, with a volume of its own.
	shred, ok := c.Services["shred-db"]
	if !ok {
		t.Fatal("no shred-db service")
	}
	db := c.Services["db"]
	if len(shred.Ports) != 0 || len(shred.Networks) != 1 || !c.Networks[shred.Networks[0]].Internal {
		t.Errorf("shred-db must be unpublished on an internal network: %v %v", shred.Ports, shred.Networks)
	}
	if len(shred.Volumes) != 1 || len(db.Volumes) != 1 || strings.Split(shred.Volumes[0], ":")[0] == strings.Split(db.Volumes[0], ":")[0] {
		t.Errorf("the shred keys share a volume with the customer database: %v %v", shred.Volumes, db.Volumes)
	}
}

// TestDockerfileDataDirectory checks that the image creates its data
// directory owned by the user it runs as, before declaring the volume, so
// that a new volume is writable by that user, and that the build passes
// the commit, which .dockerignore keeps out with .git.
func TestDockerfileDataDirectory(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d := string(b)
	user := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindStringSubmatch(d)
	if user == nil || user[1] == "0" {
		t.Fatalf("the image does not run as an unprivileged user")
	}
	owned := regexp.MustCompile(`(?m)^COPY --from=\S+ --chown=` + user[1] + `:` + user[2] + ` \S+ /data$`).FindStringIndex(d)
	volume := strings.Index(d, "VOLUME [")
	if owned == nil || volume < 0 || owned[0] > volume || !strings.Contains(d[volume:], `"/data"`) {
		t.Errorf("the image must create /data owned by %s:%s before VOLUME", user[1], user[2])
	}
	for _, want := range []string{"-X main.commit=${COMMIT}", "-X main.buildTime=${BUILD_TIME}", "CUSTODIAN_DATA_DIR=/data"} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestDockerignore checks that the build context leaves out a
// development checkout's data, keys, secrets, history and build leftovers.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	for _, want := range []string{".git", "data/", "**/data/", "*.db", "keyring.json", "**/keyring.json", "secrets/", "**/node_modules/", "bench-results/", "test-artifacts/", "custodian-*.tar.gz"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
}
