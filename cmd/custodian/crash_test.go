package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/internal/testnet"
)

// built is the real custodian binary, built once for every test of the
// package that runs it as a process of its own; TestMain removes its
// directory.
var built struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// buildBinary builds the real custodian binary, as an operator would run
// it, the first time a test asks for it, and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "custodian-bin-"); built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(built.dir, "custodian"), ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return filepath.Join(built.dir, "custodian")
}

// serverProcess is the real binary serving in a process of its own.
type serverProcess struct {
	cmd  *exec.Cmd
	base string
	logs *syncbuf.Buffer // what it has logged so far
	done chan error
}

// startBinary runs "custodian serve" from bin with vars as its only
// CUSTODIAN_ settings, and waits until /healthz answers.
func startBinary(t *testing.T, bin string, vars map[string]string, args ...string) *serverProcess {
	t.Helper()
	addr := testnet.FreeAddr(t)
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTODIAN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &serverProcess{cmd: cmd, base: "http://" + addr, logs: &syncbuf.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	// A minute: on the shared test server, migrations of every test's
	// schema wait for one another (one advisory lock for all).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("the server exited: %v\n%s", err, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start:\n%s", p.logs)
		}
	}
}

// crashClient keeps a record of what the server acknowledged and what it
// may or may not have done (a request without an answer).
type crashClient struct {
	base, token string
	http        *http.Client

	mu sync.Mutex
	// created are the customers whose creation was acknowledged, by
	// email; maybeCreated those sent without an answer.
	created      map[string]string // email -> id
	maybeCreated map[string]bool
	// acked is each customer's last acknowledged notes; pending the notes
	// of an update sent after it without an answer.
	acked   map[string]string
	pending map[string]string
	updates int // updates acknowledged
}

// do sends a JSON request and returns the status, the ETag and the body;
// status 0 means no answer.
func (c *crashClient) do(method, path, contentType, body string, headers ...string) (int, string, []byte) {
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", nil
	}
	return resp.StatusCode, resp.Header.Get("ETag"), b
}

// acknowledged reports whether at least creates creates and updates
// updates have been acknowledged.
func (c *crashClient) acknowledged(creates, updates int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.created) >= creates && c.updates >= updates
}

// worker creates customers and updates them, one request at a time,
// until stop closes or the server stops answering.
func (c *crashClient) worker(w int, stop <-chan struct{}) {
	type mine struct{ id, etag string }
	var own []mine
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if len(own) == 0 || i%3 == 0 {
			email := fmt.Sprintf("w%d-%d@example.com", w, i)
			c.mu.Lock()
			c.maybeCreated[email] = true
			c.mu.Unlock()
			code, etag, body := c.do("POST", "/api/customers/", "application/json", fmt.Sprintf(`{"name":"Worker %d Customer %d","email":%q,"notes":"v0"}`, w, i, email))
			if code == 0 {
				return
			}
			var cu struct{ ID string }
			if code == 201 && json.Unmarshal(body, &cu) == nil {
				c.mu.Lock()
				delete(c.maybeCreated, email)
				c.created[email] = cu.ID
				c.acked[cu.ID] = "v0"
				c.mu.Unlock()
				own = append(own, mine{cu.ID, etag})
			}
			continue
		}
		k := &own[i%len(own)]
		notes := fmt.Sprintf("v%d", i)
		c.mu.Lock()
		c.pending[k.id] = notes
		c.mu.Unlock()
		code, etag, _ := c.do("PATCH", "/api/customers/"+k.id+"/", "application/merge-patch+json", fmt.Sprintf(`{"notes":%q}`, notes), "If-Match", k.etag)
		if code == 0 {
			return
		}
		c.mu.Lock()
		delete(c.pending, k.id)
		if code == 200 {
			c.acked[k.id] = notes
			c.updates++
			k.etag = etag
		}
		c.mu.Unlock()
	}
}

// TestNoAcknowledgedWriteLost runs the real binary on SQLite and on
// PostgreSQL under concurrent creates and updates, kills it with SIGKILL
// in the middle, and starts it again: every create and update that was
// answered 2xx is there (updates with their last acknowledged value, or a
// later one that was sent but never answered), nothing that was never
// sent appears, every customer reads back whole, and the audit trail
// verifies.
func TestNoAcknowledgedWriteLost(t *testing.T) {
	bin := buildBinary(t)
	backends := map[string]func(t *testing.T) map[string]string{
		"SQLite": func(t *testing.T) map[string]string {
			return map[string]string{"CUSTODIAN_DATA_DIR": filepath.Join(t.TempDir(), "data")}
		},
		"PostgreSQL": func(t *testing.T) map[string]string {
			return map[string]string{"CUSTODIAN_DATABASE_URL": testdb.PostgresSchemaURL(t), "CUSTODIAN_DATA_DIR": t.TempDir()}
		},
	}
	for name, vars := range backends {
		t.Run(name, func(t *testing.T) {
			vars := vars(t)
			vars["CUSTODIAN_MASTER_KEY"] = newTestKeyring(t)
			vars["CUSTODIAN_RATE_LIMIT_API"] = "100000/s,burst=100000"
			tok := adminToken(t, vars)
			srv := startBinary(t, bin, vars)
			c := &crashClient{base: srv.base, token: tok, http: &http.Client{Timeout: 10 * time.Second},
				created: map[string]string{}, maybeCreated: map[string]bool{}, acked: map[string]string{}, pending: map[string]string{}}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() { c.worker(w, stop) })
			}
			// The kill lands in the middle of the load, once enough of it
			// was acknowledged to judge, however fast the machine is.
			for deadline := time.Now().Add(30 * time.Second); !c.acknowledged(200, 200) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-srv.done
			close(stop)
			wg.Wait()
			if len(c.created) < 20 {
				t.Fatalf("only %d creates were acknowledged before the kill: too little load to judge", len(c.created))
			}
			if c.updates < 20 {
				t.Fatalf("only %d updates were acknowledged before the kill: too few to judge", c.updates)
			}

			srv2 := startBinary(t, bin, vars)
			c.base = srv2.base
			for email, id := range c.created {
				code, _, body := c.do("GET", "/api/customers/"+id+"/", "", "")
				var cu struct{ Email, Notes string }
				if code != 200 || json.Unmarshal(body, &cu) != nil || cu.Email != email {
					t.Fatalf("acknowledged customer %s (%s) after the restart: %d %s", id, email, code, body)
				}
				if cu.Notes != c.acked[id] && cu.Notes != c.pending[id] {
					t.Fatalf("customer %s has notes %q; the last acknowledged were %q (and %q was in flight)", id, cu.Notes, c.acked[id], c.pending[id])
				}
			}
			// Every customer listed reads whole and was sent by a worker.
			listed, cursor := 0, ""
			for {
				code, _, body := c.do("GET", "/api/customers/?limit=200"+cursor, "", "")
				var page struct {
					Items      []struct{ ID, Email string }
					NextCursor *string `json:"next_cursor"`
				}
				if code != 200 || json.Unmarshal(body, &page) != nil {
					t.Fatalf("list after the restart: %d %s", code, body)
				}
				for _, it := range page.Items {
					if c.created[it.Email] != it.ID && !c.maybeCreated[it.Email] {
						t.Fatalf("customer %s (%s) was never sent", it.ID, it.Email)
					}
					listed++
				}
				if page.NextCursor == nil {
					break
				}
				cursor = "&cursor=" + *page.NextCursor
			}
			if listed < len(c.created) || listed > len(c.created)+len(c.maybeCreated) {
				t.Fatalf("%d customers listed; %d acknowledged, %d in flight", listed, len(c.created), len(c.maybeCreated))
			}
			if err := srv2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-srv2.done; err != nil {
				t.Fatalf("serve after the restart: %v\n%s", err, srv2.logs)
			}
			out, _, err := runCmd(t, vars, "audit", "verify")
			if err != nil {
				t.Fatalf("audit verify after the crash: %v\n%s", err, out)
			}
			t.Logf("%d creates and %d updates acknowledged before SIGKILL, %d requests in flight; all there, trail intact: %s",
				len(c.created), c.updates, len(c.maybeCreated)+len(c.pending), strings.SplitN(out, "\n", 2)[0])
		})
	}
}
