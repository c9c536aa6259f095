// Package backup takes consistent backups of a Custodian database while
// it serves, checks them, and restores them, keeping erasure: a customer
// whose shred key is gone when a backup is restored is dropped from it and
// keeps only a tombstone.
//
// A backup is one gzip-compressed tar file. Its first entry, manifest.json,
// says what the backup holds (format, backend, schema version, time, row
// counts per table, the audit trail's head, the master key ids the data is
// wrapped under) and the size and SHA-256 of every payload entry that
// follows, and of the payload as a whole. The payload is the database's
// ciphertext as stored: for SQLite one consistent copy of the database
// file (VACUUM INTO), for PostgreSQL the rows of Custodian's own tables,
// read in one REPEATABLE READ, READ ONLY transaction. No key is ever in a
// backup: neither the keyring nor the shred key store.
package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"time"

	"github.com/custodian-crm/custodian/sqlstore"
)

// Format names this version of the backup format in the manifest.
const Format = "custodian-backup/v1"

// manifestName is the name of the first entry of a backup.
const manifestName = "manifest.json"

// DatabaseFile is the first payload entry of a SQLite backup: the
// customer database's file, under the name it has in the data directory.
const DatabaseFile = "custodian.db"

// Backends a backup can come from.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Errors a backup file can be refused with, wrapped with the details.
var (
	// ErrNotBackup reports a file that is not a Custodian backup at all.
	ErrNotBackup = errors.New("not a Custodian backup")
	// ErrCorrupt reports a backup that is truncated or whose content does
	// not match its checksums.
	ErrCorrupt = errors.New("the backup is truncated or corrupted")
	// ErrUnsupported reports a backup this program cannot restore: a newer
	// format or schema, or another backend.
	ErrUnsupported = errors.New("the backup cannot be restored here")
)

// Manifest describes a backup.
type Manifest struct {
	Format        string    `json:"format"`
	Backend       string    `json:"backend"`
	SchemaVersion int64     `json:"schema_version"`
	CreatedAt     time.Time `json:"created_at"`
	// Counts are the rows of each table.
	Counts map[string]int64 `json:"counts"`
	// AuditHead is the newest audit event in the backup.
	AuditHead Anchor `json:"audit_head"`
	// AuditArchived is the last audit event moved out to an archive file:
	// the backup's trail starts after it (seq 0 when none was).
	AuditArchived Anchor `json:"audit_archived"`
	// MasterKeyIDs are the master keys the customers' data keys are
	// wrapped under: the keyring a restore needs must hold them.
	MasterKeyIDs []string `json:"master_key_ids"`
	// Tables are the tables of a row-by-row backup (PostgreSQL), in the
	// order they are restored, with their columns.
	Tables []sqlstore.Table `json:"tables,omitempty"`
	// Files are the payload entries, in the order they follow the
	// manifest.
	Files []File `json:"files"`
	// PayloadSHA256 is the SHA-256 of the payload entries' contents one
	// after the other.
	PayloadSHA256 string `json:"payload_sha256"`
}

// Anchor is an audit event's sequence number and hash (hexadecimal).
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// File is one payload entry.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Customers is how many customers the backup holds.
func (m *Manifest) Customers() int64 { return m.Counts["customers"] }

// hashFile returns the size and SHA-256 of the file at p, adding its
// content to whole.
func hashFile(p string, whole hash.Hash) (File, error) {
	f, err := os.Open(p) // #nosec G304 -- a file this package staged
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, whole), f)
	if err != nil {
		return File{}, err
	}
	return File{Name: path.Base(p), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// pack writes the backup: m, then the payload files (m.Files, read from
// dir), as a gzip-compressed tar, to w. progress is told the bytes
// written.
func pack(w io.Writer, m *Manifest, dir string, progress func(done, total int64)) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed) // most of a backup's time: the fastest level
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	err = writeEntries(tw, m, dir, progress)
	if err == nil {
		err = tw.Close()
	}
	return errors.Join(err, zw.Close())
}

// writeEntries writes m and the payload files to tw.
func writeEntries(tw *tar.Writer, m *Manifest, dir string, progress func(done, total int64)) error {
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	now := m.CreatedAt
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mb)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(mb); err != nil {
		return err
	}
	var total, done int64
	for _, f := range m.Files {
		total += f.Size
	}
	for _, f := range m.Files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: 0o600, Size: f.Size, ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		src, err := os.Open(path.Join(dir, f.Name)) // #nosec G304 -- a file this package staged
		if err != nil {
			return err
		}
		n, err := io.Copy(tw, &countingReader{r: src, onRead: func(n int64) {
			done += n
			if progress != nil {
				progress(done, total)
			}
		}})
		src.Close()
		if err != nil {
			return err
		}
		if n != f.Size {
			return fmt.Errorf("%s changed while it was packed", f.Name)
		}
	}
	return nil
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r      io.Reader
	onRead func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.onRead(int64(n))
	}
	return n, err
}

// Read reads the backup file at p and checks it, everything before
// anything is used: that it is a backup (ErrNotBackup), of a format this
// program reads (ErrUnsupported), complete and matching every checksum of
// its manifest (ErrCorrupt). into, when not nil, is given each payload
// entry to write where the caller wants it (nil: discard); what it wrote
// must not be used unless Read returns no error.
func Read(p string, into func(f File) (io.WriteCloser, error)) (*Manifest, error) {
	file, err := os.Open(p) // #nosec G304 -- the operator names the backup
	if err != nil {
		return nil, err
	}
	defer file.Close()
	br := bufio.NewReaderSize(file, 1<<20)
	zr, err := gzip.NewReader(br)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: %w (empty or cut short before its first bytes)", p, ErrNotBackup)
		}
		return nil, fmt.Errorf("%s: %w (not a gzip-compressed file)", p, ErrNotBackup)
	}
	zr.Multistream(false)
	tr := tar.NewReader(zr)
	corrupt := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w: %s: %v", p, ErrCorrupt, what, err)
		}
		return fmt.Errorf("%s: %w: %s", p, ErrCorrupt, what)
	}
	h, err := tr.Next()
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corrupt("cut short in its manifest", nil)
		}
		return nil, fmt.Errorf("%s: %w (no manifest: %v)", p, ErrNotBackup, err)
	}
	if h.Name != manifestName || h.Size > 16<<20 {
		return nil, fmt.Errorf("%s: %w (its first entry is %q, not %s)", p, ErrNotBackup, h.Name, manifestName)
	}
	mb, err := io.ReadAll(tr)
	if err != nil {
		return nil, corrupt("reading the manifest", err)
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil || m.Format == "" {
		return nil, fmt.Errorf("%s: %w (its manifest is not one)", p, ErrNotBackup)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%s: %w: format %q, this program reads %q", p, ErrUnsupported, m.Format, Format)
	}
	whole := sha256.New()
	for _, f := range m.Files {
		h, err := tr.Next()
		if err != nil {
			return nil, corrupt(fmt.Sprintf("%s is missing", f.Name), err)
		}
		if h.Name != f.Name || h.Size != f.Size {
			return nil, corrupt(fmt.Sprintf("found %s (%d bytes) where the manifest lists %s (%d bytes)", h.Name, h.Size, f.Name, f.Size), nil)
		}
		var w io.WriteCloser
		if into != nil {
			if w, err = into(f); err != nil {
				return nil, err
			}
		}
		fh := sha256.New()
		dst := io.MultiWriter(fh, whole)
		if w != nil {
			dst = io.MultiWriter(fh, whole, w)
		}
		n, err := io.Copy(dst, tr)
		if w != nil {
			if cerr := w.Close(); err == nil && cerr != nil {
				return nil, cerr
			}
		}
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return nil, err // writing, not reading, failed
			}
			return nil, corrupt(fmt.Sprintf("reading %s", f.Name), err)
		}
		if n != f.Size || hex.EncodeToString(fh.Sum(nil)) != f.SHA256 {
			return nil, corrupt(fmt.Sprintf("the checksum of %s does not match", f.Name), nil)
		}
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return nil, corrupt("entries the manifest does not list, or a damaged end", err)
	}
	// The gzip trailer (length and CRC) is checked at its end.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, corrupt("its compressed stream", err)
	}
	if hex.EncodeToString(whole.Sum(nil)) != m.PayloadSHA256 {
		return nil, corrupt("the payload checksum does not match", nil)
	}
	if rest, _ := io.Copy(io.Discard, br); rest > 0 {
		return nil, corrupt("data after the end of the backup", nil)
	}
	return &m, nil
}
