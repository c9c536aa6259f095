package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian/hashchain"
)

// auditCommands are the audit trail commands. Like the key commands they
// never generate a keyring: the trail's chain key comes from the keyring
// that sealed it.
func auditCommands() commandTable {
	return commandTable{
		path: "custodian audit",
		about: `The chain is sealed with a key derived from the keyring's index key, so the
keyring (CUSTODIAN_MASTER_KEY, --master-key-file (CUSTODIAN_MASTER_KEY_FILE)
or the development keyring in --data-dir) is needed to verify. Record the
anchor that verify and head print somewhere the database cannot reach (a
ticket, a log archive); an anchor given back with --anchor proves that the
events up to it were neither changed nor cut off. serve publishes anchors
by itself every --anchor-interval (to its log, --anchor-file and the alert
webhook): give verify the anchor file, or a saved log, with --anchor-file.
`,
		commands: []command{
			{name: "verify", args: "[--from-anchor SEQ:HEX] [--anchor SEQ:HEX ...] [--anchor-file F ...]", summary: "walk the audit trail and check every link of its chain", run: runAuditVerify},
			{name: "head", summary: "print the newest event as an anchor (SEQ:HEX) to record elsewhere", run: runAuditHead},
		},
	}
}

// ErrChainBroken is returned by "audit verify" when the trail fails
// verification.
var ErrChainBroken = errors.New("the audit trail is broken")

// anchorList is a repeatable --anchor flag.
type anchorList []hashchain.Anchor

// String lists the anchors as the comma-separated text Set accepts.
func (l *anchorList) String() string {
	parts := make([]string, len(*l))
	for i, a := range *l {
		parts[i] = formatAnchor(a)
	}
	return strings.Join(parts, ",")
}

// Set adds the comma-separated anchors of v.
func (l *anchorList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		a, err := parseAnchor(strings.TrimSpace(part))
		if err != nil {
			return err
		}
		*l = append(*l, a)
	}
	return nil
}

// parseAnchor reads SEQ:HEX.
func parseAnchor(s string) (hashchain.Anchor, error) {
	seqText, hexText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 {
		return hashchain.Anchor{}, fmt.Errorf("anchor %q: want SEQ:HEX with a sequence number of at least 1", s)
	}
	h, err := hex.DecodeString(hexText)
	if err != nil || len(h) == 0 {
		return hashchain.Anchor{}, fmt.Errorf("anchor %q: the hash is not hexadecimal", s)
	}
	return hashchain.Anchor{Seq: seq, Hash: h}, nil
}

// formatAnchor writes a as SEQ:HEX, the form parseAnchor reads.
func formatAnchor(a hashchain.Anchor) string {
	return strconv.FormatInt(a.Seq, 10) + ":" + hex.EncodeToString(a.Hash)
}

// runAuditHead prints the newest event of the trail as an anchor.
func runAuditHead(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("audit head", proc.stderr)
	flags := addKeyCommandFlags(fs)
	return flags.run(ctx, proc, fs, args, func(a *app) error {
		head, err := a.store.AuditHead(ctx)
		if err != nil {
			return err
		}
		if head.Seq == 0 {
			fmt.Fprintln(proc.stdout, "the audit trail is empty")
			return nil
		}
		fmt.Fprintln(proc.stdout, formatAnchor(head))
		return nil
	})
}

// runAuditVerify walks the trail from the start (or from --from-anchor)
// and checks every link of its chain and every --anchor, reporting the
// first break; it prints the head as an anchor to record elsewhere.
func runAuditVerify(ctx context.Context, proc *process, args []string) error {
	stdout, stderr := proc.stdout, proc.stderr
	fs := newFlagSet("audit verify", stderr)
	flags := addKeyCommandFlags(fs)
	var anchors anchorList
	fs.Var(&anchors, "anchor", "SEQ:HEX recorded earlier (by verify or head); the event must still be there with that hash. Repeatable")
	from := fs.String("from-anchor", "", "SEQ:HEX of an event verified before: check only the events after it")
	var anchorFiles listFlag
	fs.Var(&anchorFiles, "anchor-file", "a file of anchors published by serve (its --anchor-file, or a saved server log): every anchor in it is checked. Repeatable")
	return flags.run(ctx, proc, fs, args, func(a *app) error {
		store, chain := a.store, a.chain
		for _, file := range anchorFiles {
			read, skipped, err := readAnchors(file)
			if err != nil {
				return fmt.Errorf("--anchor-file: %w", err)
			}
			fmt.Fprintf(stdout, "%s: %d anchors", file, len(read))
			if skipped > 0 {
				fmt.Fprintf(stdout, " (%d other lines skipped)", skipped)
			}
			fmt.Fprintln(stdout)
			anchors = append(anchors, read...)
		}
		var start hashchain.Anchor
		if *from != "" {
			var err error
			if start, err = parseAnchor(*from); err != nil {
				return fmt.Errorf("--from-anchor: %w", err)
			}
		}
		// The head row says how far the trail reaches; checked as one more
		// anchor, it shows newest events cut off, which no link can show.
		head, err := store.AuditHead(ctx)
		if err != nil {
			return err
		}
		all := append([]hashchain.Anchor(nil), anchors...)
		if head.Seq > start.Seq {
			all = append(all, head)
		}
		began := time.Now()
		bar := newProgress(stderr)
		total := max(head.Seq-start.Seq, 0)
		var done int64
		last := start
		counted := func(yield func(hashchain.Event, error) bool) {
			for e, err := range store.AuditChain(ctx, start.Seq) {
				if err == nil {
					done++
					bar.updateCount("audit", "events verified", done, max(total, done), time.Since(began))
				}
				if !yield(e, err) {
					return
				}
				if err == nil {
					last = hashchain.AnchorOf(e)
				}
			}
		}
		brk, err := chain.VerifyFrom(start, iter.Seq2[hashchain.Event, error](counted), all...)
		bar.finish()
		if err != nil {
			return err
		}
		elapsed := time.Since(began)
		if brk != nil {
			if brk.Seq > start.Seq+1 {
				// Everything before the break verified; last may be the
				// event at the break, read before the verdict.
				fmt.Fprintf(stdout, "events %d to %d verified\n", start.Seq+1, brk.Seq-1)
			}
			fmt.Fprintf(stdout, "BROKEN at seq %d (%s): %s\n", brk.Seq, brk.Kind, brk.Msg)
			fmt.Fprintln(stdout, "Nothing from this event on can be trusted. Keep the database as it is and compare it with a backup and with the anchors recorded elsewhere.")
			return fmt.Errorf("%w at seq %d (%s)", ErrChainBroken, brk.Seq, brk.Kind)
		}
		if done == 0 {
			fmt.Fprintf(stdout, "no events after seq %d; the trail is intact\n", start.Seq)
		} else {
			fmt.Fprintf(stdout, "verified %d events (seq %d to %d) in %v (%.0f per second); %d anchors matched\n",
				done, start.Seq+1, last.Seq, elapsed.Round(time.Millisecond), float64(done)/max(elapsed.Seconds(), 1e-9), len(all))
		}
		if last.Seq > 0 {
			fmt.Fprintf(stdout, "head anchor: %s\n", formatAnchor(last))
			fmt.Fprintf(stdout, "Record it outside the database; later run: custodian audit verify --anchor %s\n", formatAnchor(last))
		}
		return nil
	})
}
