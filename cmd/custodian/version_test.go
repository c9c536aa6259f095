package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionDescribesTheBuild checks what "custodian version" prints
// from the build information and the link-time settings.
func TestVersionDescribesTheBuild(t *testing.T) {
	vcs := func(modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/custodian-crm/custodian", Version: "v1.4.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-06T10:00:00Z"}, {Key: "vcs.modified", Value: modified}}}
	}
	cases := []struct {
		name                   string
		release, commit, built string
		info                   *debug.BuildInfo
		want                   []string
	}{
		{"module version and commit", "dev", "", "", vcs("false"),
			[]string{"custodian v1.4.0\n", "module: github.com/custodian-crm/custodian v1.4.0\n", "commit: 0123abcd\n", "built: 2026-12-06T10:00:00Z (time of the commit)\n", "go: go1.26.8\n"}},
		{"uncommitted changes", "dev", "", "", vcs("true"), []string{"commit: 0123abcd (with uncommitted changes)\n"}},
		{"link-time settings win", "1.5.0", "fedcba98", "2026-12-06T12:00:00Z", vcs("false"),
			[]string{"custodian 1.5.0\n", "commit: fedcba98\n", "built: 2026-12-06T12:00:00Z\n"}},
		{"no build information", "dev", "", "", nil, []string{"custodian dev\n", "commit: unknown\n", "built: unknown\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := describeBuild(tc.release, tc.commit, tc.built, tc.info)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("describeBuild printed\n%s\nwant %q", got, w)
				}
			}
		})
	}
	out, _, err := runCmd(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "custodian ") || !strings.Contains(out, "\ncommit: ") || !strings.Contains(out, "\ngo: go") {
		t.Fatalf("version: %v\n%s", err, out)
	}
}
