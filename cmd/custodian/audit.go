package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/sqlstore"
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

archive moves the events before a date into a gzip file of JSON lines signed
(HMAC) with a key derived from the keyring; the database keeps the last
archived event's hash, and an audit.archive event records the move, so the
chain runs on from the archives into the database. verify --archive FILE...
checks the archives' signatures and the whole chain across them and the
database; without it, verify starts after the archived events.
`,
		commands: []command{
			{name: "verify", args: "[--from-anchor SEQ:HEX] [--anchor SEQ:HEX ...] [--anchor-file F ...] [--archive FILE ...]", summary: "walk the audit trail (and its archives) and check every link of its chain, every published anchor, and the read log against its seals", run: runAuditVerify},
			{name: "archive", args: "--before DATE --out DIR", summary: "move the events before DATE into a signed, compressed archive file", run: runAuditArchive},
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
		head, err := a.store.DurableAuditHead(ctx) // printed to be kept outside
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
	var archives listFlag
	fs.Var(&archives, "archive", "an archive file made by audit archive, verified offline with the events after it. Repeatable")
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
		if *from != "" && len(archives) > 0 {
			return fmt.Errorf("%w: --from-anchor and --archive do not go together", ErrConfig)
		}
		var start hashchain.Anchor
		if *from != "" {
			var err error
			if start, err = parseAnchor(*from); err != nil {
				return fmt.Errorf("--from-anchor: %w", err)
			}
		}
		archived, err := store.AuditArchived(ctx)
		if err != nil {
			return err
		}
		files, err := checkArchives(archives, a.keyring.keyring.AuditArchiveKey())
		if err != nil {
			return err
		}
		switch {
		case len(files) > 0:
			start = hashchain.Anchor{Seq: files[0].First - 1, Hash: files[0].PrevHash}
		case *from == "" && archived.Seq > 0:
			start = archived
			fmt.Fprintf(stdout, "events 1 to %d are archived; verify them with --archive FILE...\n", archived.Seq)
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
		// The seals met on the way say what the read log must hold.
		seals := sqlstore.ReadSeals{Partial: start.Seq > 0}
		var sealErr error
		var lastArchive int64 // the last archive the audit.archive events record
		counted := func(yield func(hashchain.Event, error) bool) {
			for e, err := range archiveThenDatabase(ctx, files, store, start.Seq) {
				if err == nil {
					done++
					bar.updateCount("audit", "events verified", done, max(total, done), time.Since(began))
					if sealErr == nil {
						sealErr = seals.Add(e)
					}
					if e.Action == custodian.ActionAuditArchive {
						var rec sqlstore.ArchiveRecord
						if json.Unmarshal(e.Data, &rec) == nil {
							lastArchive = max(lastArchive, rec.Last)
						}
					}
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
		if *from == "" && archived.Seq != lastArchive {
			// The database starts after archived.Seq: only an archive the
			// chain records may have taken the events before.
			fmt.Fprintf(stdout, "BROKEN: the database starts after seq %d, but the trail records archives up to seq %d\n", archived.Seq, lastArchive)
			return fmt.Errorf("%w: events up to seq %d are gone without a recorded archive", ErrChainBroken, archived.Seq)
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
		return verifyReadLog(ctx, stdout, store, seals, sealErr)
	})
}

// archiveFile is a checked archive file.
type archiveFile struct {
	hashchain.ArchiveHeader
	path string
}

// checkArchives checks the signature of each archive file under key and
// returns them in chain order.
func checkArchives(paths []string, key []byte) ([]archiveFile, error) {
	var out []archiveFile
	for _, p := range paths {
		f, err := os.Open(p) // #nosec G304 -- the operator names the archive files
		if err != nil {
			return nil, err
		}
		h, err := hashchain.CheckArchive(f, key)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, archiveFile{ArchiveHeader: h, path: p})
	}
	slices.SortFunc(out, func(a, b archiveFile) int { return cmp.Compare(a.First, b.First) })
	return out, nil
}

// archiveThenDatabase yields the events of the archive files, in order,
// then the database's events after the last of them (after after when
// there is none): the chain as the verifier walks it.
func archiveThenDatabase(ctx context.Context, files []archiveFile, store *sqlstore.Store, after int64) iter.Seq2[hashchain.Event, error] {
	return func(yield func(hashchain.Event, error) bool) {
		for _, af := range files {
			f, err := os.Open(af.path)
			if err != nil {
				yield(hashchain.Event{}, err)
				return
			}
			for e, err := range hashchain.ArchiveEvents(f) {
				if !yield(e, err) {
					f.Close()
					return
				}
			}
			f.Close()
			after = af.Last
		}
		for e, err := range store.AuditChain(ctx, after) {
			if !yield(e, err) {
				return
			}
		}
	}
}

// runAuditArchive moves the events before --before into an archive file
// in --out, then removes them from the database.
func runAuditArchive(ctx context.Context, proc *process, args []string) error {
	stdout := proc.stdout
	fs := newFlagSet("audit archive", proc.stderr)
	flags := addKeyCommandFlags(fs)
	before := fs.String("before", "", "archive the events that happened before this date (YYYY-MM-DD, UTC) or time (RFC 3339)")
	out := fs.String("out", "", "directory the archive file is written to (created with mode 0700)")
	return flags.run(ctx, proc, fs, args, func(a *app) error {
		cut, err := time.Parse(time.DateOnly, *before)
		if err != nil {
			if cut, err = time.Parse(time.RFC3339, *before); err != nil {
				return fmt.Errorf("%w: --before must be a date (YYYY-MM-DD) or an RFC 3339 time", ErrConfig)
			}
		}
		if *out == "" {
			return fmt.Errorf("%w: --out must name the directory for the archive file", ErrConfig)
		}
		from, last, err := a.store.ArchiveRange(ctx, cut)
		if err != nil {
			return err
		}
		if last == from.Seq {
			fmt.Fprintf(stdout, "no events before %s to archive (events up to seq %d are archived already)\n", cut.Format(time.RFC3339), from.Seq)
			return nil
		}
		key := a.keyring.keyring.AuditArchiveKey()
		name := fmt.Sprintf("audit-%012d-%012d.jsonl.gz", from.Seq+1, last)
		path, sum, h, err := writeArchiveFile(ctx, a.store, *out, name, key, from, last)
		if err != nil {
			return err
		}
		if err := a.store.RemoveArchived(custodian.WithActor(ctx, custodian.ActorCLI), sqlstore.ArchiveRecord{First: h.First, Last: h.Last, LastHash: h.LastHash, File: name, SHA256: sum}); err != nil {
			return fmt.Errorf("the archive %s is written, but the events stay in the database: %w", path, err)
		}
		fmt.Fprintf(stdout, "archived events %d to %d into %s (sha256 %x); the database now starts after seq %d\n", h.First, h.Last, path, sum, h.Last)
		fmt.Fprintln(stdout, "Keep the file with the anchors; verify with: custodian audit verify --archive "+path)
		return nil
	})
}

// writeArchiveFile writes the archive of the events after from up to last
// to dir/name, synced to disk, checks it back, and returns its path and
// SHA-256.
func writeArchiveFile(ctx context.Context, store *sqlstore.Store, dir, name string, key []byte, from hashchain.Anchor, last int64) (string, []byte, hashchain.ArchiveHeader, error) {
	var h hashchain.ArchiveHeader
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, h, err
	}
	path := filepath.Join(dir, name)
	f, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		return "", nil, h, err
	}
	defer os.Remove(f.Name()) // after the rename, nothing
	sum := sha256.New()
	if h, err = store.WriteAuditArchive(ctx, io.MultiWriter(f, sum), key, from, last); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", nil, h, fmt.Errorf("write the archive: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		return "", nil, h, fmt.Errorf("%s exists already", path)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", nil, h, err
	}
	if d, err := os.Open(dir); err == nil { // the rename itself made durable
		_ = d.Sync()
		d.Close()
	}
	check, err := os.Open(path) // #nosec G304 -- the file just written
	if err != nil {
		return "", nil, h, err
	}
	defer check.Close()
	if _, err := hashchain.CheckArchive(check, key); err != nil {
		return "", nil, h, fmt.Errorf("the archive written does not check: %w", err)
	}
	return path, sum.Sum(nil), h, nil
}

// verifyReadLog checks the read log against the seals of the verified
// trail and reports what it found.
func verifyReadLog(ctx context.Context, stdout io.Writer, store *sqlstore.Store, seals sqlstore.ReadSeals, sealErr error) error {
	if sealErr != nil {
		fmt.Fprintf(stdout, "READ LOG BROKEN: a seal event does not decode: %v\n", sealErr)
		return fmt.Errorf("%w: a read log seal does not decode", ErrChainBroken)
	}
	v, err := store.VerifyReads(ctx, seals)
	if err != nil {
		return err
	}
	if v.Break != "" {
		fmt.Fprintf(stdout, "READ LOG BROKEN at read record %d: %s\n", v.BreakSeq, v.Break)
		fmt.Fprintln(stdout, "The reads recorded there cannot be trusted. Keep the read log as it is and compare it with a backup.")
		return fmt.Errorf("%w: the read log differs from its seals at read record %d", ErrChainBroken, v.BreakSeq)
	}
	fmt.Fprintf(stdout, "read log: %d read records verified against %d seals", v.Verified, v.Seals)
	if seals.Purged > 0 {
		fmt.Fprintf(stdout, "; records up to %d removed by retention", seals.Purged)
	}
	if v.Pending > 0 {
		fmt.Fprintf(stdout, "; %d recorded since the last seal, verified once sealed", v.Pending)
	}
	fmt.Fprintln(stdout)
	return nil
}
