package http

import (
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
)

// TestUIPagesAreRateLimited reproduces bulk reading through the web
// interface: a signed-in session reading /customers/{id} page after page.
// Past the page limit it must get 429 pages with Retry-After, reported to
// the attack detector, whether the reader stays on one address, or
// spreads one session over several addresses, or several sessions over
// one address.
func TestUIPagesAreRateLimited(t *testing.T) {
	const burst = 5
	tests := []struct {
		name string
		// next returns the client for the i-th read.
		next func(a, b *webClient, i int) *webClient
	}{
		{"one session, one address", func(a, _ *webClient, _ int) *webClient { return a }},
		{"one session, many addresses", func(a, _ *webClient, i int) *webClient {
			a.addr = "198.51.100." + string(rune('1'+i%9))
			return a
		}},
		{"two sessions, one address", func(a, b *webClient, i int) *webClient {
			if i%2 == 0 {
				return a
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &observed{}
			s := newTestServer(t, func(d *Deps) {
				d.Monitor = obs
				l, err := ratelimit.NewLocal(ratelimit.Limit{Rate: 0.001, Burst: burst}, ratelimit.LocalConfig{})
				if err != nil {
					t.Fatal(err)
				}
				d.PageLimiter = l
			})
			id := s.create(`{"name":"Ada Lovelace"}`)["id"].(string)
			a, b := s.web(), s.web()
			a.signIn("reader-a@example.com", custodian.RoleViewer)
			b.signIn("reader-b@example.com", custodian.RoleViewer)
			// Signing in read pages too; start the count afresh.
			s2 := 0
			refused := 0
			for i := range 4 * burst {
				c := tt.next(a, b, i)
				p := c.get("/customers/" + id)
				switch p.code {
				case 200:
					s2++
				case 429:
					refused++
					if p.hdr.Get("Retry-After") == "" || p.hdr.Get("Content-Type") != "text/html; charset=utf-8" {
						t.Fatalf("429 without Retry-After or not a page: %v", p.hdr)
					}
				default:
					t.Fatalf("read %d: %d %s", i, p.code, p.body)
				}
			}
			if refused == 0 || s2 > 2*burst {
				t.Fatalf("%d reads served and %d refused: bulk reading is not limited", s2, refused)
			}
			limited := 0
			for _, sig := range obs.All() {
				if sig.Kind == custodian.SignalRateLimited {
					limited++
				}
			}
			if limited != refused {
				t.Fatalf("%d refusals reported to the detector, want %d", limited, refused)
			}
		})
	}
}
