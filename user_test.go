package custodian_test

import (
	"slices"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestPolicyMatrix holds the access policy written out by hand, role by
// permission, and compares it with the product's table in both directions:
// a permission given to or taken from a role in rolePermissions, or a
// permission added without deciding who holds it, fails here. It is the
// reviewer's copy of the policy; change both together, on purpose.
func TestPolicyMatrix(t *testing.T) {
	const y, n = true, false
	perms := []custodian.Permission{
		custodian.PermPublic, custodian.PermSignedIn, custodian.PermCustomersRead, custodian.PermCustomersWrite,
		custodian.PermCustomersDelete, custodian.PermCustomersErase, custodian.PermUsersManage,
		custodian.PermSettingsManage, custodian.PermAuditRead, custodian.PermCustomersImport, custodian.PermCustomersExport,
		custodian.PermWebhooksManage, custodian.PermViewsShare,
	}
	matrix := map[custodian.Role][]bool{
		//                     public signed  read  write delete erase users settings audit import export webhooks share-views
		custodian.RoleAdmin:   {y, y, y, y, y, y, y, y, y, y, y, y, y},
		custodian.RoleManager: {y, y, y, y, y, y, n, n, n, y, y, n, y},
		custodian.RoleAgent:   {y, y, y, y, n, n, n, n, n, n, n, n, n},
		custodian.RoleViewer:  {y, y, y, n, n, n, n, n, n, n, n, n, n},
		custodian.RoleAuditor: {y, y, n, n, n, n, n, n, y, n, n, n, n},
	}
	if got := custodian.Permissions(); !slices.Equal(got, perms) {
		t.Fatalf("the product's permissions are %v; this matrix covers %v: decide who holds every permission here", got, perms)
	}
	if got := custodian.Roles(); len(got) != len(matrix) {
		t.Fatalf("the product has roles %v; this matrix covers %d", got, len(matrix))
	}
	for _, role := range custodian.Roles() {
		row, ok := matrix[role]
		if !ok {
			t.Fatalf("role %s is not in the matrix", role)
		}
		for i, p := range perms {
			if got := role.Can(p); got != row[i] {
				t.Errorf("%s can %s = %v, want %v", role, p, got, row[i])
			}
		}
	}
	// Unknown roles hold nothing but what is public.
	for _, p := range perms {
		if got := custodian.Role("root").Can(p); got != (p == custodian.PermPublic) {
			t.Errorf("an unknown role can %s = %v", p, got)
		}
	}
}
