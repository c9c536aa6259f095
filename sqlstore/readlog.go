package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
)

// The read log keeps every recorded read of personal data apart from the
// audit trail, so that recording a read writes neither the trail's
// indexed rows nor, on SQLite, the customer database at all:
//
//   - RecordRead queues the read in memory and returns. One goroutine
//     writes what is queued every FlushInterval (and on Close), in one
//     transaction, as one row of read_batches: a compact blob of the
//     records (times as microseconds, actors, purposes and addresses as
//     ids of read_names, customer and request ids as raw bytes), plus one
//     read_index row per customer named, so that a customer's reads are
//     found without a scan.
//   - Every SealInterval (and on Close) the records written since the
//     last seal are sealed into the trail by one ActionReadsSeal event
//     carrying their sequence range, count and Merkle root
//     (hashchain.MerkleRoot over hashchain.Read leaves). read_seal, in the
//     customer database, says how far the log is sealed; the seal event
//     and its update commit together.
//   - VerifyReads recomputes each seal's root from the log.
//
// Durability: a read is in the log's database within FlushInterval of
// RecordRead returning (on SQLite the log's file syncs every commit); a
// crash of the process loses at most the reads of the last FlushInterval.
// A failed write keeps the records queued and makes RecordRead fail, so
// that reads are refused rather than left unrecorded, until a write
// succeeds. Records written but not yet sealed (at most SealInterval's
// worth) are verified only once sealed.

// ReadLogOptions say how often the read log is written and sealed.
type ReadLogOptions struct {
	// FlushInterval bounds how long a recorded read waits in memory
	// before it is written: what a crash can lose (100 ms when 0).
	FlushInterval time.Duration
	// SealInterval is how often written records are sealed into the
	// trail (5 s when 0): each seal is one event of the trail, whatever
	// the number of reads it covers.
	SealInterval time.Duration
	// MaxPending bounds the reads queued in memory; RecordRead waits for
	// a write beyond it (65,536 when 0).
	MaxPending int
}

func (o ReadLogOptions) withDefaults() ReadLogOptions {
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.SealInterval <= 0 {
		o.SealInterval = 5 * time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 65536
	}
	return o
}

// Limits of one batch row and of one seal.
const (
	maxReadBatch = 4096
	maxSealReads = 200_000
)

// readLogFormat is the version byte that starts every batch blob.
const readLogFormat = 1

// pendingRead is a read waiting to be written.
type pendingRead struct {
	us                              int64
	actor, purpose, addr, requestID string
	customers                       []string
}

// readLog writes, seals and reads the read log of a store.
type readLog struct {
	s   *Store
	db  *sql.DB // where the log lives: its own database, or the store's
	own bool    // db is the log's own, closed with the store
	opt ReadLogOptions

	mu      sync.Mutex
	pending []pendingRead
	failed  error         // the last write's failure, until one succeeds
	written chan struct{} // closed after each write attempt

	namesMu sync.RWMutex
	ids     map[string]int64
	names   map[int64]string

	flushes chan chan error
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newReadLog(s *Store, db *sql.DB, own bool, o ReadLogOptions) *readLog {
	r := &readLog{s: s, db: db, own: own, opt: o.withDefaults(), written: make(chan struct{}),
		ids: map[string]int64{"": 0}, names: map[int64]string{0: ""},
		flushes: make(chan chan error), quit: make(chan struct{}), done: make(chan struct{})}
	if s.chain == nil {
		close(r.done) // a store that never appends never seals: no writer
		return r
	}
	go r.loop()
	return r
}

// close writes and seals what is queued, then stops the writer.
func (r *readLog) close() {
	r.once.Do(func() { close(r.quit) })
	<-r.done
}

func (r *readLog) loop() {
	defer close(r.done)
	flush := time.NewTicker(r.opt.FlushInterval)
	defer flush.Stop()
	lastSeal := time.Now()
	for {
		select {
		case <-flush.C:
			_ = r.flush()
			if time.Since(lastSeal) >= r.opt.SealInterval {
				// A failed seal is tried again at the next interval; the
				// records stay in the log meanwhile.
				_ = r.seal(context.Background())
				lastSeal = time.Now()
			}
		case reply := <-r.flushes:
			reply <- r.flush()
		case <-r.quit:
			_ = r.flush()
			_ = r.seal(context.Background())
			return
		}
	}
}

// RecordRead queues one read record naming customerIDs, stamped with the
// actor, origin and purpose of ctx, and returns; the record is written
// within the flush interval (see ReadLogOptions). It fails while the log
// cannot be written, so that no read goes unrecorded.
func (s *Store) RecordRead(ctx context.Context, customerIDs ...string) error {
	if len(customerIDs) == 0 {
		return nil
	}
	if s.chain == nil {
		return internal("record read", errNoChain)
	}
	r := s.reads
	origin := custodian.OriginFrom(ctx)
	p := pendingRead{us: time.Now().UnixMicro(), actor: custodian.ActorFrom(ctx), purpose: custodian.PurposeFrom(ctx),
		addr: origin.ClientAddr, requestID: origin.RequestID, customers: slices.Clone(customerIDs)}
	for {
		r.mu.Lock()
		select {
		case <-r.quit:
			r.mu.Unlock()
			return internal("record read", errClosed)
		default:
		}
		if r.failed != nil {
			err := r.failed
			r.mu.Unlock()
			return &custodian.Error{Code: custodian.EUNAVAILABLE, Message: "Reads cannot be recorded at the moment.", Err: fmt.Errorf("record read: %w", err)}
		}
		if len(r.pending) < r.opt.MaxPending {
			r.pending = append(r.pending, p)
			r.mu.Unlock()
			return nil
		}
		wait := r.written
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return internal("record read", ctx.Err())
		}
	}
}

// sync writes the queued records now, so that what was recorded before
// the call can be read back. It always goes through the writer: a batch
// the writer has taken but not yet committed is no longer queued, and
// only the writer knows when it is in.
func (r *readLog) sync(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.flushes <- reply:
	case <-r.done:
		return nil // closed: everything was written
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-reply
}

// flush writes the queued records, keeping them queued when the write
// fails.
func (r *readLog) flush() error {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	var err error
	if len(batch) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = r.write(ctx, batch)
		cancel()
	}
	r.mu.Lock()
	if err != nil {
		r.pending = append(batch, r.pending...)
	}
	r.failed = err
	close(r.written)
	r.written = make(chan struct{})
	r.mu.Unlock()
	return err
}

// write stores reads in one transaction, as batch rows of at most
// maxReadBatch records.
func (r *readLog) write(ctx context.Context, reads []pendingRead) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ids, err := r.nameIDs(ctx, tx, reads)
	if err != nil {
		return err
	}
	var last int64
	if err := tx.QueryRowContext(ctx, r.s.q(`UPDATE read_head SET seq = seq + ? WHERE id = 1 RETURNING seq`), len(reads)).Scan(&last); err != nil {
		return fmt.Errorf("read log head: %w", err)
	}
	first := last - int64(len(reads)) + 1
	for len(reads) > 0 {
		part := reads[:min(len(reads), maxReadBatch)]
		reads = reads[len(part):]
		blob, newest := encodeReads(part, ids)
		if _, err := tx.ExecContext(ctx, r.s.q(`INSERT INTO read_batches (first_seq, n, t_us, recs) VALUES (?, ?, ?, ?)`), first, len(part), newest, blob); err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		if err := r.index(ctx, tx, first, part); err != nil {
			return err
		}
		first += int64(len(part))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	r.namesMu.Lock()
	for name, id := range ids {
		r.ids[name], r.names[id] = id, name
	}
	r.namesMu.Unlock()
	return nil
}

// index adds a read_index row for each customer the batch starting at
// first names.
func (r *readLog) index(ctx context.Context, tx *sql.Tx, first int64, part []pendingRead) error {
	seen := make(map[int32]bool)
	var keys []any
	for _, p := range part {
		for _, c := range p.customers {
			k := customerKey(c)
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k, first)
			}
		}
	}
	const chunk = 400 // rows per INSERT, two parameters each
	for len(keys) > 0 {
		n := min(len(keys), 2*chunk)
		q := `INSERT INTO read_index (cust, batch) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, n/2-1)
		if _, err := tx.ExecContext(ctx, r.s.q(q), keys[:n]...); err != nil {
			return fmt.Errorf("read index: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// customerKey is a customer's key in read_index: 32 bits of a hash of its
// id, so that the index stays small. Keys of different customers may
// collide; readers check the records the index points to.
func customerKey(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32()) // #nosec G115 -- any 32 bits will do: the key is a hash
}

// nameIDs returns the id of every actor, purpose and address the reads
// name, adding the names that are new to read_names.
func (r *readLog) nameIDs(ctx context.Context, tx *sql.Tx, reads []pendingRead) (map[string]int64, error) {
	out := make(map[string]int64)
	r.namesMu.RLock()
	var missing []string
	for _, p := range reads {
		for _, n := range [...]string{p.actor, p.purpose, p.addr} {
			if _, ok := out[n]; ok {
				continue
			}
			if id, ok := r.ids[n]; ok {
				out[n] = id
			} else {
				out[n] = -1
				missing = append(missing, n)
			}
		}
	}
	r.namesMu.RUnlock()
	for _, n := range missing {
		if _, err := tx.ExecContext(ctx, r.s.q(`INSERT INTO read_names (name) VALUES (?) ON CONFLICT (name) DO NOTHING`), n); err != nil {
			return nil, fmt.Errorf("read log names: %w", err)
		}
		var id int64
		if err := tx.QueryRowContext(ctx, r.s.q(`SELECT id FROM read_names WHERE name = ?`), n).Scan(&id); err != nil {
			return nil, fmt.Errorf("read log names: %w", err)
		}
		out[n] = id
	}
	return out, nil
}

// name returns the name with id, loading the names added since the last
// lookup when it is not known yet.
func (r *readLog) name(ctx context.Context, id int64) (string, error) {
	r.namesMu.RLock()
	n, ok := r.names[id]
	r.namesMu.RUnlock()
	if ok {
		return n, nil
	}
	if err := r.loadNames(ctx); err != nil {
		return "", err
	}
	r.namesMu.RLock()
	n, ok = r.names[id]
	r.namesMu.RUnlock()
	if !ok {
		return "", fmt.Errorf("read log names: no name %d", id)
	}
	return n, nil
}

// loadNames replaces the remembered names with those stored.
func (r *readLog) loadNames(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT id, name FROM read_names`)
	if err != nil {
		return fmt.Errorf("read log names: %w", err)
	}
	defer rows.Close()
	ids, names := map[string]int64{"": 0}, map[int64]string{0: ""}
	for rows.Next() {
		var i int64
		var s string
		if err := rows.Scan(&i, &s); err != nil {
			return fmt.Errorf("read log names: %w", err)
		}
		names[i], ids[s] = s, i
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read log names: %w", err)
	}
	r.namesMu.Lock()
	r.ids, r.names = ids, names
	r.namesMu.Unlock()
	return nil
}

// customerIDs are the raw bytes of well-formed customer ids.
var customerIDs = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// encodeReads encodes reads as a batch blob and returns it with the
// newest read's time. The blob is the format byte, the first read's time
// (Unix milliseconds, varint), then each read: its time's difference
// from the first (varint), the ids of its actor, purpose and address
// (uvarints), its request id, its customer count and its customers. A
// request id or customer id is a uvarint tag then bytes: tag 1 is a
// hexadecimal request id, or 0 a well-formed customer id, kept as raw
// bytes (12 and 16 of them); any other tag t is t-2 (request id) or t-1
// (customer id) bytes of text.
func encodeReads(reads []pendingRead, ids map[string]int64) ([]byte, int64) {
	base := reads[0].us
	newest := base
	b := make([]byte, 0, len(reads)*48)
	b = append(b, readLogFormat)
	b = binary.AppendVarint(b, base)
	for _, p := range reads {
		newest = max(newest, p.us)
		b = binary.AppendVarint(b, p.us-base)
		for _, n := range [...]string{p.actor, p.purpose, p.addr} {
			b = binary.AppendUvarint(b, uint64(ids[n])) // #nosec G115 -- ids are positive
		}
		if raw, err := hex.DecodeString(p.requestID); err == nil && len(p.requestID) > 0 && hex.EncodeToString(raw) == p.requestID {
			b = binary.AppendUvarint(b, 1)
			b = binary.AppendUvarint(b, uint64(len(raw)))
			b = append(b, raw...)
		} else {
			b = binary.AppendUvarint(b, uint64(len(p.requestID))+2)
			b = append(b, p.requestID...)
		}
		b = binary.AppendUvarint(b, uint64(len(p.customers)))
		for _, c := range p.customers {
			if raw, ok := rawCustomerID(c); ok {
				b = append(b, 0)
				b = append(b, raw...)
			} else {
				b = binary.AppendUvarint(b, uint64(len(c))+1)
				b = append(b, c...)
			}
		}
	}
	return b, newest
}

// rawCustomerID returns the 16 bytes a well-formed customer id encodes.
func rawCustomerID(id string) ([]byte, bool) {
	if !custodian.ValidCustomerID(id) {
		return nil, false
	}
	rest := id[len(custodian.CustomerIDPrefix):]
	raw, err := customerIDs.DecodeString(rest)
	if err != nil || len(raw) != 16 || customerIDs.EncodeToString(raw) != rest {
		return nil, false
	}
	return raw, true
}

// errBadBatch reports a batch blob that does not decode: a damaged or
// altered read log.
var errBadBatch = errors.New("read log: a batch does not decode")

// decodeReads decodes the n reads of the batch starting at first.
func (r *readLog) decodeReads(ctx context.Context, first int64, n int, blob []byte) ([]hashchain.Read, error) {
	d := decoder{b: blob}
	if d.byte() != readLogFormat {
		return nil, errBadBatch
	}
	base := d.varint()
	out := make([]hashchain.Read, 0, n)
	for i := range n {
		rd := hashchain.Read{Seq: first + int64(i), Time: time.UnixMicro(base + d.varint()).UTC()}
		for _, dst := range [...]*string{&rd.Actor, &rd.Purpose, &rd.ClientAddr} {
			id := d.uvarint()
			if d.err != nil {
				return nil, errBadBatch
			}
			name, err := r.name(ctx, int64(id)) // #nosec G115 -- ids are small
			if err != nil {
				return nil, err
			}
			*dst = name
		}
		switch tag := d.uvarint(); {
		case tag == 1:
			rd.RequestID = hex.EncodeToString(d.bytes(d.uvarint()))
		case tag >= 2:
			rd.RequestID = string(d.bytes(tag - 2))
		}
		count := d.uvarint()
		if d.err != nil || count > uint64(len(blob)) {
			return nil, errBadBatch
		}
		rd.Customers = make([]string, count)
		for j := range rd.Customers {
			if tag := d.uvarint(); tag == 0 {
				rd.Customers[j] = custodian.CustomerIDPrefix + customerIDs.EncodeToString(d.bytes(16))
			} else {
				rd.Customers[j] = string(d.bytes(tag - 1))
			}
		}
		if d.err != nil {
			return nil, errBadBatch
		}
		out = append(out, rd)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errBadBatch
	}
	return out, nil
}

// decoder reads a batch blob, remembering the first failure.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errBadBatch, nil }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

// batchRow is one row of read_batches.
type batchRow struct {
	first int64
	n     int
	blob  []byte
}

// batches returns up to limit batch rows in the order q gives, whose query
// selects first_seq, n and recs.
func (r *readLog) batches(ctx context.Context, q string, args ...any) ([]batchRow, error) {
	rows, err := r.db.QueryContext(ctx, r.s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	defer rows.Close()
	var out []batchRow
	for rows.Next() {
		var b batchRow
		if err := rows.Scan(&b.first, &b.n, &b.blob); err != nil {
			return nil, fmt.Errorf("read log: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return out, nil
}

// Reads returns the read records q selects, newest first, after writing
// the reads still queued, so that every read recorded before the call is
// listed. Batches are found by their sequence numbers (and, for a
// customer, through read_index; for Since, by the newest time each batch
// holds); the other filters are applied to the decoded records.
func (s *Store) Reads(ctx context.Context, q custodian.ReadQuery) ([]custodian.ReadRecord, error) {
	r := s.reads
	if err := r.sync(ctx); err != nil {
		return nil, internal("list reads", err)
	}
	up := q.AfterSeq > 0
	// next is where the walk among batches, by their first sequence
	// numbers, goes on from: the batches beyond it are still to come.
	var next int64
	switch {
	case up:
		// From the batch that holds AfterSeq's record (or the last
		// before it), the first that can hold a later one.
		err := r.db.QueryRowContext(ctx, r.s.q(`SELECT COALESCE(MAX(first_seq), 0) FROM read_batches WHERE first_seq <= ?`), q.AfterSeq).Scan(&next)
		if err != nil {
			return nil, internal("list reads", err)
		}
		next--
	case q.BeforeSeq > 0:
		next = q.BeforeSeq
	default:
		next = 1<<63 - 1
	}
	var since int64
	if !q.Since.IsZero() {
		since = q.Since.UnixMicro()
	}
	const page = 64
	var out []custodian.ReadRecord
	keep := func(rd hashchain.Read) bool {
		switch {
		case up && rd.Seq <= q.AfterSeq, !up && q.BeforeSeq > 0 && rd.Seq >= q.BeforeSeq:
			return false
		case q.Customer != "" && !slices.Contains(rd.Customers, q.Customer),
			q.Actor != "" && rd.Actor != q.Actor,
			!q.Since.IsZero() && rd.Time.Before(q.Since),
			!q.Until.IsZero() && !rd.Time.Before(q.Until):
			return false
		}
		return true
	}
	for {
		rows, err := r.readBatches(ctx, q.Customer, up, next, since, page)
		if err != nil {
			return nil, internal("list reads", err)
		}
		for _, b := range rows {
			reads, err := r.decodeReads(ctx, b.first, b.n, b.blob)
			if err != nil {
				return nil, internal("list reads", err)
			}
			if !up {
				slices.Reverse(reads)
			}
			for _, rd := range reads {
				if !keep(rd) {
					continue
				}
				out = append(out, custodian.ReadRecord{Seq: rd.Seq, Time: rd.Time, Actor: rd.Actor, Purpose: rd.Purpose,
					ClientAddr: rd.ClientAddr, RequestID: rd.RequestID, Customers: rd.Customers})
				if q.Limit > 0 && len(out) == q.Limit {
					return finishReads(out, up), nil
				}
			}
			next = b.first
		}
		if len(rows) < page {
			return finishReads(out, up), nil
		}
	}
}

// finishReads puts records read upwards newest first.
func finishReads(out []custodian.ReadRecord, up bool) []custodian.ReadRecord {
	if up {
		slices.Reverse(out)
	}
	return out
}

// readBatches returns up to page batch rows whose first sequence numbers
// lie beyond pos, in the direction of the walk: below pos going down,
// above it going up. With customer, only the batches read_index lists for
// it; with since (Unix microseconds), only those whose newest record is
// that recent.
func (r *readLog) readBatches(ctx context.Context, customer string, up bool, pos, since int64, page int) ([]batchRow, error) {
	var b strings.Builder
	var args []any
	col := "b.first_seq"
	b.WriteString(`SELECT b.first_seq, b.n, b.recs FROM read_batches b`)
	if customer != "" {
		b.WriteString(` JOIN read_index i ON i.batch = b.first_seq AND i.cust = ?`)
		args = append(args, customerKey(customer))
		col = "i.batch"
	}
	if up {
		b.WriteString(` WHERE ` + col + ` > ?`)
		args = append(args, pos)
	} else {
		b.WriteString(` WHERE ` + col + ` < ?`)
		args = append(args, pos)
	}
	if since > 0 {
		b.WriteString(` AND b.t_us >= ?`)
		args = append(args, since)
	}
	if up {
		b.WriteString(` ORDER BY ` + col + ` ASC LIMIT ?`)
	} else {
		b.WriteString(` ORDER BY ` + col + ` DESC LIMIT ?`)
	}
	args = append(args, page)
	return r.batches(ctx, b.String(), args...)
}

// seal seals the records written since the last seal into the trail: one
// ActionReadsSeal event with their range, count and Merkle root, and
// read_seal moved past them, in one transaction. Another instance sealing
// at the same time makes one of the two fail, harmlessly.
func (r *readLog) seal(ctx context.Context) error {
	s := r.s
	var through int64
	if err := s.read.QueryRowContext(ctx, `SELECT through FROM read_seal WHERE id = 1`).Scan(&through); err != nil {
		return fmt.Errorf("read seal: %w", err)
	}
	var leaves [][]byte
	last := through
	for len(leaves) < maxSealReads {
		rows, err := r.batches(ctx, `SELECT first_seq, n, recs FROM read_batches WHERE first_seq > ? ORDER BY first_seq LIMIT 64`, last)
		if err != nil {
			return err
		}
		for _, b := range rows {
			if b.first != last+1 {
				return fmt.Errorf("read seal: the read log jumps from seq %d to %d", last, b.first)
			}
			reads, err := r.decodeReads(ctx, b.first, b.n, b.blob)
			if err != nil {
				return err
			}
			for i := range reads {
				leaves = append(leaves, reads[i].Leaf())
			}
			last = b.first + int64(b.n) - 1
		}
		if len(rows) < 64 {
			break
		}
	}
	if len(leaves) == 0 {
		return nil
	}
	data, err := json.Marshal(custodian.ReadSeal{First: through + 1, Last: last, Count: int64(len(leaves)), Root: hashchain.MerkleRoot(leaves)})
	if err != nil {
		return err
	}
	ctx = custodian.WithActor(ctx, custodian.ActorReadLog)
	return s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		res, err := s.txFrom(ctx).ExecContext(ctx, s.q(`UPDATE read_seal SET through = ? WHERE id = 1 AND through = ?`), last, through)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return nil, errors.Join(errors.New("read seal: sealed meanwhile by another"), err)
		}
		return []custodian.AuditEntry{{Action: custodian.ActionReadsSeal, Data: data}}, nil
	})
}

// ReadLogDB returns the read log's database (on SQLite a file of its own),
// for tools and tests that run their own SQL.
func (s *Store) ReadLogDB() *sql.DB { return s.reads.db }

// SealReads writes the queued reads and seals everything written into the
// trail now, rather than at the next interval.
func (s *Store) SealReads(ctx context.Context) error {
	if err := s.reads.sync(ctx); err != nil {
		return internal("seal reads", err)
	}
	return internal("seal reads", s.reads.seal(ctx))
}

// ReadsVerification is what VerifyReads found.
type ReadsVerification struct {
	// Verified counts the records whose seals' roots matched.
	Verified int64
	// Seals counts the seals checked.
	Seals int
	// Pending counts the records after the last seal: written, not yet
	// sealed.
	Pending int64
	// Break, when not empty, says where the log stops matching its seals:
	// a record changed, removed or inserted. Nothing is said of
	// content.
	Break string
	// BreakSeq is the first sequence number of the seal that failed.
	BreakSeq int64
}

// ReadSeals gathers, from the trail's events as the chain verifier reads
// them, what the read log must hold: the seals in trail order, and how far
// the retention job removed the log.
type ReadSeals struct {
	// Seals are the Data of the ActionReadsSeal events, in trail order.
	Seals []custodian.ReadSeal
	// Purged is the last record removed by the retention job, as the
	// ActionReadsPurge events say.
	Purged int64
	// Partial says that the trail was read from a point after its start
	// (after an archive, or from an anchor): seals before that point
	// were not seen, so the records before the first seal seen are not
	// checked.
	Partial bool
}

// Add takes note of e when it seals or purges the read log.
func (rs *ReadSeals) Add(e hashchain.Event) error {
	switch e.Action {
	case custodian.ActionReadsSeal:
		var sl custodian.ReadSeal
		if err := json.Unmarshal(e.Data, &sl); err != nil {
			return fmt.Errorf("seal event %d: %w", e.Seq, err)
		}
		rs.Seals = append(rs.Seals, sl)
	case custodian.ActionReadsPurge:
		var p custodian.ReadPurge
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return fmt.Errorf("purge event %d: %w", e.Seq, err)
		}
		rs.Purged = max(rs.Purged, p.Through)
	}
	return nil
}

// VerifyReads checks the read log against the seals rs gathered from a
// verified chain: each seal's records must be there, in order, and hash to
// its root, and the seals must cover the log without gaps from the first
// record not purged; only records after the last seal may lack one (they
// are counted as pending). A changed, removed or inserted record shows as
// a Break.
func (s *Store) VerifyReads(ctx context.Context, rs ReadSeals) (ReadsVerification, error) {
	after := rs.Purged
	if rs.Partial && len(rs.Seals) > 0 {
		after = max(after, rs.Seals[0].First-1)
	}
	return s.verifyReads(ctx, rs.Seals, after)
}

func (s *Store) verifyReads(ctx context.Context, seals []custodian.ReadSeal, after int64) (ReadsVerification, error) {
	r := s.reads
	var v ReadsVerification
	if err := r.loadNames(ctx); err != nil { // as stored, not as remembered
		return v, internal("verify reads", err)
	}
	seals = slices.DeleteFunc(slices.Clone(seals), func(sl custodian.ReadSeal) bool { return sl.Last <= after })
	expect := after + 1
	for _, sl := range seals {
		if sl.First != expect || sl.Last < sl.First {
			v.Break, v.BreakSeq = fmt.Sprintf("the seals do not cover the read log contiguously at record %d", expect), expect
			return v, nil
		}
		expect = sl.Last + 1
	}
	si := 0
	var leaves [][]byte
	check := func() bool { // the current seal's records are all read
		sl := seals[si]
		v.Seals++
		if int64(len(leaves)) != sl.Count || sl.Last-sl.First+1 != sl.Count || !bytes.Equal(hashchain.MerkleRoot(leaves), sl.Root) {
			v.Break = fmt.Sprintf("the read records %d to %d do not match their seal: a record was changed, removed or inserted", sl.First, sl.Last)
			v.BreakSeq = sl.First
			return false
		}
		v.Verified += sl.Count
		leaves = leaves[:0]
		si++
		return true
	}
	pos := after
	for {
		rows, err := r.batches(ctx, `SELECT first_seq, n, recs FROM read_batches WHERE first_seq > ? ORDER BY first_seq LIMIT 64`, pos)
		if err != nil {
			return v, internal("verify reads", err)
		}
		for _, b := range rows {
			pos = b.first
			reads, err := r.decodeReads(ctx, b.first, b.n, b.blob)
			if errors.Is(err, errBadBatch) {
				v.Break, v.BreakSeq = fmt.Sprintf("the read records from %d do not decode: the log was altered", b.first), b.first
				return v, nil
			}
			if err != nil {
				return v, internal("verify reads", err)
			}
			for i := range reads {
				rd := &reads[i]
				for si < len(seals) && rd.Seq > seals[si].Last {
					if !check() {
						return v, nil
					}
				}
				if si == len(seals) {
					v.Pending++
					continue
				}
				leaves = append(leaves, rd.Leaf())
			}
		}
		if len(rows) < 64 {
			break
		}
	}
	for si < len(seals) {
		if !check() {
			return v, nil
		}
	}
	return v, nil
}

// PurgeReads removes the read records older than before, as far as the
// log is sealed, at a seal's boundary: it records an ActionReadsPurge
// event first, so that verification knows which records are meant to be
// gone, then deletes them. It returns how many records it removed.
func (s *Store) PurgeReads(ctx context.Context, before time.Time) (int64, error) {
	r := s.reads
	var through, purged int64
	if err := s.read.QueryRowContext(ctx, `SELECT through, purged FROM read_seal WHERE id = 1`).Scan(&through, &purged); err != nil {
		return 0, internal("purge reads", err)
	}
	// The first batch that holds a read at or after before stays, with
	// every batch after it.
	var keep sql.NullInt64
	if err := r.db.QueryRowContext(ctx, s.q(`SELECT MIN(first_seq) FROM read_batches WHERE t_us >= ?`), before.UnixMicro()).Scan(&keep); err != nil {
		return 0, internal("purge reads", err)
	}
	limit := through
	if keep.Valid {
		limit = min(limit, keep.Int64-1)
	}
	// Cut at the end of the newest seal inside the limit.
	upTo := purged
	for e, err := range s.sealEvents(ctx) {
		if err != nil {
			return 0, internal("purge reads", err)
		}
		if e.Last <= limit {
			upTo = max(upTo, e.Last)
			break
		}
	}
	if upTo > purged {
		data, err := json.Marshal(custodian.ReadPurge{Through: upTo, Before: before.UTC()})
		if err != nil {
			return 0, err
		}
		err = s.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
			res, err := s.txFrom(ctx).ExecContext(ctx, s.q(`UPDATE read_seal SET purged = ? WHERE id = 1 AND purged = ?`), upTo, purged)
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return nil, errors.Join(errors.New("purge reads: purged meanwhile by another"), err)
			}
			return []custodian.AuditEntry{{Action: custodian.ActionReadsPurge, Data: data}}, nil
		})
		if err != nil {
			return 0, err
		}
		purged = upTo
	}
	// Delete (again, after an interrupted run) what the trail says is
	// purged.
	var n int64
	err := func() error {
		tx, err := r.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(n), 0) FROM read_batches WHERE first_seq <= ?`), purged).Scan(&n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM read_batches WHERE first_seq <= ?`), purged); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM read_index WHERE batch <= ?`), purged); err != nil {
			return err
		}
		return tx.Commit()
	}()
	return n, internal("purge reads", err)
}

// sealEvents yields the seals recorded in the trail, newest first.
func (s *Store) sealEvents(ctx context.Context) func(yield func(custodian.ReadSeal, error) bool) {
	return func(yield func(custodian.ReadSeal, error) bool) {
		var before int64
		for {
			evs, err := s.AuditEvents(ctx, custodian.AuditQuery{Action: custodian.ActionReadsSeal, BeforeSeq: before, Limit: 500})
			if err != nil {
				yield(custodian.ReadSeal{}, err)
				return
			}
			for _, e := range evs {
				var sl custodian.ReadSeal
				if err := json.Unmarshal(e.Data, &sl); err != nil {
					yield(sl, fmt.Errorf("seal event %d: %w", e.Seq, err))
					return
				}
				if !yield(sl, nil) {
					return
				}
				before = e.Seq
			}
			if len(evs) < 500 {
				return
			}
		}
	}
}
