package main

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docCommand is one custodian invocation in a shell block of a document.
type docCommand struct {
	line  int
	words []string // after "custodian"
}

// docCommands returns the custodian invocations in the ```sh blocks of
// the document at path, with continuation lines joined.
func docCommands(t *testing.T, path string) []docCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docCommand
	inBlock, joined, start := false, "", 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			inBlock = true
			continue
		case strings.HasPrefix(line, "```"):
			inBlock = false
			continue
		case !inBlock:
			continue
		}
		if joined == "" {
			start = n
		}
		joined += " " + strings.TrimSuffix(line, "\\")
		if strings.HasSuffix(line, "\\") {
			continue
		}
		text := joined
		joined = ""
		if i := strings.Index(text, "#"); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		for i, w := range fields {
			if w == "custodian" && i+1 < len(fields) && (i == 0 || fields[i-1] == "|" || fields[i-1] == "&&") {
				out = append(out, docCommand{line: start, words: fields[i+1:]})
			}
		}
	}
	return out
}

var flagWord = regexp.MustCompile(`^--?([a-z0-9-]+)`)

// TestOperationsGuideUsesRealCommands checks that every custodian command
// in docs/operations.md exists and takes every flag it is shown with, by
// asking the command itself (-h lists its flags).
func TestOperationsGuideUsesRealCommands(t *testing.T) {
	cmds := docCommands(t, "../../docs/operations.md")
	if len(cmds) < 12 {
		t.Fatalf("found only %d custodian commands in the guide", len(cmds))
	}
	for _, c := range cmds {
		// The command path: the words before the first flag or argument
		// that is not a sub-command.
		path := []string{}
		table := programCommands()
		for _, w := range c.words {
			if _, ok := table.lookup(w); !ok {
				break
			}
			path = append(path, w)
			// A level with its own table dispatches further.
			sub := subcommandTable(w)
			if sub == nil || len(path) > 1 {
				break
			}
			table = *sub
		}
		if len(path) == 0 {
			t.Errorf("line %d: custodian %s: no such command", c.line, strings.Join(c.words, " "))
			continue
		}
		if path[0] == "version" {
			continue
		}
		_, usage, _ := runCmd(t, nil, append(path, "-h")...)
		for _, w := range c.words[len(path):] {
			m := flagWord.FindStringSubmatch(w)
			if m == nil || w == "-" {
				continue
			}
			if !strings.Contains(usage, "-"+m[1]+" ") && !strings.Contains(usage, "-"+m[1]+"\n") {
				t.Errorf("line %d: custodian %s does not take --%s", c.line, strings.Join(path, " "), m[1])
			}
		}
	}
}

// subcommandTable returns the table of the commands under name, or nil
// when name takes no sub-command.
func subcommandTable(name string) *commandTable {
	for _, t := range []commandTable{keysCommands(), auditCommands(), userCommands(), tokenCommands(), retentionCommands()} {
		if t.path == "custodian "+name {
			return &t
		}
	}
	return nil
}

var (
	testName = regexp.MustCompile(`\bTest[A-Z][A-Za-z0-9_]*`)
	goPath   = regexp.MustCompile("`([a-z0-9_/]+/[a-z0-9_]+\\.go)`")
	testFunc = regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]+)\(`)
)

// TestScaleOutGuideNamesRealTests checks that every test and Go file
// docs/scale-out.md names, as what covers a piece of shared state,
// exists: the guide must not point at a test that was renamed or removed.
func TestScaleOutGuideNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("../../docs/scale-out.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path) // #nosec G304 -- the repository's own files
		if err != nil {
			return err
		}
		for _, m := range testFunc.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := testName.FindAllString(string(doc), -1)
	if len(names) < 8 {
		t.Fatalf("found only %d test names in the guide", len(names))
	}
	for _, name := range names {
		if !defined[name] {
			t.Errorf("docs/scale-out.md names %s, which no test file defines", name)
		}
	}
	for _, m := range goPath.FindAllStringSubmatch(string(doc), -1) {
		if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
			t.Errorf("docs/scale-out.md names %s: %v", m[1], err)
		}
	}
}
