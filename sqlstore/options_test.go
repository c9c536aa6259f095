package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
)

// TestStoreNeedsItsAuditChain: a store cannot be opened without saying
// how it seals its trail, and one opened without an audit chain on purpose
// refuses to append rather than seal events with a chain nobody verifies.
func TestStoreNeedsItsAuditChain(t *testing.T) {
	ctx := context.Background()
	plain, _ := hashchain.NewChain(nil)
	if _, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"), sqlstore.Options{}); !errors.Is(err, sqlstore.ErrNoAuditChain) {
		t.Fatalf("opened without a chain: %v", err)
	}
	if _, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"), sqlstore.Options{AuditChain: plain, WithoutAuditChain: true}); err == nil {
		t.Fatal("opened with a chain and WithoutAuditChain")
	}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"), sqlstore.Options{WithoutAuditChain: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	actx := custodian.WithActor(ctx, "usr_test")
	if err := s.AppendAudit(actx, custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: "cus_a"}); err == nil {
		t.Fatal("a store without an audit chain appended to the trail")
	}
	if head, err := s.AuditHead(ctx); err != nil || head.Seq != 0 {
		t.Fatalf("head after a refused append: %+v %v", head, err)
	}
}
