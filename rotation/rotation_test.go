package rotation_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/rotation"
)

// The storage contract (storetest) proves rotation on both backends; this
// checks what the command shows: progress after every batch, and the result.
func TestProgressAndResult(t *testing.T) {
	ctx := context.Background()
	store, _ := testdb.SQLite(t)
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	fs := make([]custodian.CustomerFields, 23)
	for i := range fs {
		fs[i] = custodian.CustomerFields{Name: fmt.Sprintf("Progress %d", i)}
	}
	if _, err := customers.New(store, sealer, customers.Options{}).ImportCustomers(ctx, fs); err != nil {
		t.Fatal(err)
	}
	newID := k.AddMasterKey()
	rot, _ := crypto.NewSealer(k, 0)
	var seen []rotation.Progress
	res, err := rotation.Rewrap(ctx, store, rot, rotation.Options{Batch: 10, OnBatch: func(p rotation.Progress) { seen = append(seen, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("%d progress reports for 23 keys in batches of 10, want 3", len(seen))
	}
	for i, want := range []int64{10, 20, 23} {
		if seen[i].Rewrapped != want || seen[i].Total != 23 || (i > 0 && seen[i].Elapsed < seen[i-1].Elapsed) {
			t.Fatalf("progress %d = %+v, want %d of 23", i, seen[i], want)
		}
	}
	if res.ActiveKeyID != newID || res.Rewrapped != 23 || res.Usage[newID] != 23 || len(res.Usage) != 1 || res.Rate() <= 0 {
		t.Fatalf("result = %+v", res)
	}
	// Nothing left: a second run re-wraps nothing and reports no batch.
	seen = nil
	res, err = rotation.Rewrap(ctx, store, rot, rotation.Options{OnBatch: func(p rotation.Progress) { seen = append(seen, p) }})
	if err != nil || res.Rewrapped != 0 || len(seen) != 0 {
		t.Fatalf("second run: %+v %v %v", res, seen, err)
	}
}
