package accounts_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/password"
)

// derivations counts the argon2id derivations a Hasher performs, and the
// parameters of each, through its OnDerive seam.
type derivations struct {
	mu     sync.Mutex
	params []password.Params
}

func (d *derivations) add(p password.Params) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.params = append(d.params, p)
}

// take returns the derivations counted since the last call.
func (d *derivations) take() []password.Params {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.params
	d.params = nil
	return out
}

// TestSignInDoesTheSameWorkForUnknownAccounts pins the timing defence
// against probing for accounts: a sign-in for an email address that has no
// account, or for a deactivated one, derives exactly one password key with
// the current parameters, the same work as a wrong password for a real
// account. It counts the work done, not the time taken, so it cannot pass
// or fail by the machine's load.
func TestSignInDoesTheSameWorkForUnknownAccounts(t *testing.T) {
	store, _ := testdb.SQLite(t)
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	var seen derivations
	cheap := password.Params{Memory: password.MinMemoryKiB, Time: 2, Threads: 1}
	hasher, err := password.NewHasher(password.Config{Params: cheap, OnDerive: seen.add})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := accounts.New(store, hasher, sealer, accounts.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	known, err := svc.CreateUser(ctx, "known@example.com", "Known", custodian.RoleAgent, pw)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := svc.CreateUser(ctx, "gone@example.com", "Gone", custodian.RoleAgent, pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetActive(ctx, gone.ID, false); err != nil {
		t.Fatal(err)
	}
	seen.take()

	attempts := []struct {
		name, email, password string
	}{
		{"wrong password for a real account", known.Email, "not the password at all"},
		{"an email address with no account", "nobody@example.com", "not the password at all"},
		{"the right password for a deactivated account", gone.Email, pw},
	}
	var answers []string
	for i, a := range attempts {
		_, _, err := svc.SignIn(ctx, custodian.SignInRequest{Email: a.email, Password: a.password, ClientAddr: fmt.Sprintf("192.0.2.%d", i+1)})
		if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
			t.Fatalf("%s: %v, want the one refusal", a.name, err)
		}
		answers = append(answers, custodian.ErrorMessage(err))
		got := seen.take()
		if len(got) != 1 || got[0] != cheap {
			t.Errorf("%s: derived %d keys with %v; want exactly one with the current parameters %v", a.name, len(got), got, cheap)
		}
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("the answers differ: %q", answers)
		}
	}
}
