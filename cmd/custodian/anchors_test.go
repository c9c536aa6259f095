package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/alerting"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/storetest"
)

// anchorReceiver collects the anchors the alert webhook receives.
type anchorReceiver struct {
	mu      sync.Mutex
	anchors []string
	signed  bool
}

func (ar *anchorReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var rec anchorRecord
	if err := json.Unmarshal(body, &rec); err != nil || rec.Type != anchorType {
		http.Error(w, "not an anchor", http.StatusBadRequest)
		return
	}
	ar.mu.Lock()
	defer ar.mu.Unlock()
	ar.anchors = append(ar.anchors, rec.AuditAnchor)
	ar.signed = r.Header.Get(alerting.SignatureHeader) == alerting.Sign([]byte("hook-secret-for-tests"), body)
}

func (ar *anchorReceiver) has(anchor string) bool {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	for _, a := range ar.anchors {
		if a == anchor {
			return ar.signed
		}
	}
	return false
}

// TestPublishedAnchorsCatchATruncatedTrail runs serve on SQLite and
// PostgreSQL with anchors published every 50 ms to a file in another
// directory, the log and the alert webhook. Then an attacker with the
// database's rights cuts the newest events off and resets the head row to
// match: "audit verify" alone still passes, as it always did, while
// "audit verify --anchor-file" with the anchor file, or with the saved
// server log, reports the truncation; and the next serve says so at start.
func TestPublishedAnchorsCatchATruncatedTrail(t *testing.T) {
	for name, open := range trailBackends() {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			anchorFile := filepath.Join(t.TempDir(), "anchors", "custodian.anchors")
			if err := os.MkdirAll(filepath.Dir(anchorFile), 0o700); err != nil {
				t.Fatal(err)
			}
			secretFile := filepath.Join(t.TempDir(), "hook-secret")
			if err := os.WriteFile(secretFile, []byte("hook-secret-for-tests"), 0o600); err != nil {
				t.Fatal(err)
			}
			hook := &anchorReceiver{}
			hookSrv := httptest.NewServer(hook)
			defer hookSrv.Close()
			args := []string{"--anchor-interval", "50ms", "--anchor-file", anchorFile,
				"--alert-webhook-url", hookSrv.URL, "--alert-webhook-secret-file", secretFile}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			base, done, logs := startServer(t, ctx, b.vars, args...)
			tok := adminToken(t, b.vars)
			for i := range 3 {
				createCustomer(t, base, tok, fmt.Sprintf("Customer %d", i))
			}
			head, _, err := runCmd(t, b.vars, "audit", "head")
			if err != nil {
				t.Fatal(err)
			}
			head = strings.TrimSpace(head)
			seq, _ := parseAnchor(head)
			// The head reaches the file, the log and the webhook.
			deadline := time.Now().Add(10 * time.Second)
			for {
				anchors, _, _ := readAnchors(anchorFile)
				if len(anchors) > 0 && formatAnchor(anchors[len(anchors)-1]) == head && hook.has(head) &&
					strings.Contains(logs.String(), `"audit_anchor":"`+head+`"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the head %s was not published everywhere:\n%s", head, logs)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(anchorFile)
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("anchor file: %v %v", info, err)
			}
			logFile := filepath.Join(t.TempDir(), "server.log")
			if err := os.WriteFile(logFile, []byte(logs.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, _, err := runCmd(t, b.vars, "audit", "verify", "--anchor-file", anchorFile, "--anchor-file", logFile); err != nil {
				t.Fatalf("intact trail against its anchors: %v\n%s", err, out)
			}

			// Cut the last two events and reset the head row to match.
			cut := seq.Seq - 1
			b.Tamper(t, storetest.Tampering{SQL: []string{
				fmt.Sprintf(`DELETE FROM audit_events WHERE seq >= %d`, cut),
				fmt.Sprintf(`UPDATE audit_head SET seq = %d, hash = (SELECT hash FROM audit_events WHERE seq = %d) WHERE id = 1`, cut-1, cut-1),
			}})
			if out, _, err := runCmd(t, b.vars, "audit", "verify"); err != nil {
				t.Fatalf("without anchors the cut trail should still look whole (the gap anchors close): %v\n%s", err, out)
			}
			want := fmt.Sprintf("BROKEN at seq %d (%s)", cut, hashchain.Truncated)
			for _, file := range []string{anchorFile, logFile} {
				out, _, err := runCmd(t, b.vars, "audit", "verify", "--anchor-file", file)
				if !errors.Is(err, ErrChainBroken) || !strings.Contains(out, want) {
					t.Fatalf("verify --anchor-file %s after the cut: %v\n%s\nwant %q", filepath.Base(file), err, out, want)
				}
			}

			// The next start notices it too.
			ctx2, cancel2 := context.WithCancel(context.Background())
			defer cancel2()
			_, done2, logs2 := startServer(t, ctx2, b.vars, args...)
			waitForLog(t, logs2, "the audit trail is shorter than its published anchors")
			cancel2()
			<-done2
		})
	}
}

// TestAnchorFileSettings checks the anchor file's place and the reading
// of anchor files: one inside the data directory is refused, lines that
// are not anchors (a cut-off last line, other log lines) are skipped.
func TestAnchorFileSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, inside := range []string{filepath.Join(dir, "anchors"), filepath.Join(dir, "sub", "a.jsonl"), dir} {
		_, _, err := runCmd(t, map[string]string{"CUSTODIAN_DATA_DIR": dir}, "serve", "--anchor-file", inside)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "outside --data-dir") {
			t.Errorf("--anchor-file %s: %v", inside, err)
		}
	}
	if in, err := within(dir+"-other/anchors", dir); err != nil || in {
		t.Errorf("a sibling directory counted as inside: %v %v", in, err)
	}
	file := filepath.Join(t.TempDir(), "anchors")
	a := hashchain.Anchor{Seq: 7, Hash: []byte{0xab, 0xcd}}
	if err := appendAnchor(file, newAnchorRecord(a, time.Now())); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, `{"level":"INFO","msg":"listening"}`+"\n"+`{"audit_anchor":"9:zz"}`+"\n"+`{"type":"audit.anchor","audit_anch`)
	f.Close()
	anchors, skipped, err := readAnchors(file)
	if err != nil || len(anchors) != 1 || formatAnchor(anchors[0]) != "7:abcd" || skipped != 3 {
		t.Fatalf("readAnchors = %v, %d skipped, %v", anchors, skipped, err)
	}
}
