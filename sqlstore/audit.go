package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
)

// txKey marks a context carrying a transaction of one store.
type txKey struct{}

type txValue struct {
	s  *Store
	tx *sql.Tx
}

// withTx returns ctx carrying tx, so that this store's writes made with it
// join tx rather than opening their own.
func (s *Store) withTx(ctx context.Context, tx *sql.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, txValue{s: s, tx: tx})
}

// txFrom returns the transaction of this store that ctx carries, or nil.
func (s *Store) txFrom(ctx context.Context) *sql.Tx {
	if v, ok := ctx.Value(txKey{}).(txValue); ok && v.s == s {
		return v.tx
	}
	return nil
}

// errNoChain refuses to append to the trail of a store opened
// WithoutAuditChain.
var errNoChain = errors.New("audit trail: this store was opened without an audit chain and cannot append to it")

// Audited runs fn and appends the entries it returns, in one transaction.
// On a single-writer database the transaction is group-committed with
// other writers', fn's work isolated in a savepoint.
func (s *Store) Audited(ctx context.Context, fn func(ctx context.Context) ([]custodian.AuditEntry, error)) error {
	run := func(ctx context.Context, tx *sql.Tx) error {
		entries, err := fn(ctx)
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, stamp(ctx, entries))
	}
	if tx := s.txFrom(ctx); tx != nil {
		return run(ctx, tx) // nested: the outer Audited commits
	}
	defer s.replica.wrote(ctx)
	if s.group != nil {
		return s.group.run(ctx, run)
	}
	// Where the dialect has a flush barrier, the transaction may commit
	// without waiting for the disk (see relaxCommit), so that the chain's
	// head, which every audited write takes, is not held through a flush;
	// the barrier then waits for it before the caller hears of the
	// outcome.
	relaxed := false
	err := s.inTx(ctx, "audited write", func(tx *sql.Tx) error {
		ctx := s.withTx(ctx, tx)
		entries, err := fn(ctx)
		if err != nil {
			return err
		}
		st := stamp(ctx, entries)
		if relaxed, err = s.relaxCommit(ctx, tx, st); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, st)
	})
	if err != nil || !relaxed {
		return err
	}
	return internal("audited write", s.awaitFlush(ctx))
}

// relaxCommit makes tx, which appends entries to the chain, commit without
// waiting for the disk, where the dialect has a flush barrier to wait with
// once the chain's head is released, and reports whether it did. A change
// that queues webhook events for an active endpoint keeps the plain
// commit, so that no endpoint is told of a change a crash could still take
// back (an endpoint activated between this check and the commit is the
// exception: its first events may be delivered up to one flush early).
func (s *Store) relaxCommit(ctx context.Context, tx *sql.Tx, entries []stamped) (bool, error) {
	if s.dialect.FlushBarrier == "" || len(entries) == 0 {
		return false, nil
	}
	relax := `SELECT set_config('synchronous_commit', 'off', true)`
	if carriesWebhookEvents(entries) {
		relax += ` WHERE NOT EXISTS (SELECT 1 FROM webhooks WHERE active = 1)`
	}
	var v string
	switch err := tx.QueryRowContext(ctx, relax).Scan(&v); {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, err
	}
}

// awaitFlush runs the dialect's flush barrier, which returns once every
// commit made before it is on disk. It runs even when ctx has ended: the
// commits it waits for are made, and their callers must hear whether they
// are kept.
func (s *Store) awaitFlush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := s.write.ExecContext(ctx, s.dialect.FlushBarrier)
	return err
}

// AppendAudit records entries with no other change. Inside Audited it
// joins that transaction; otherwise the entries of concurrent callers are
// appended together, in one transaction that takes the chain head once,
// and each caller returns when its entries are committed. Recording every
// read of a customer is then one shared commit per burst of reads rather
// than one commit (and one turn at the head row) per read.
func (s *Store) AppendAudit(ctx context.Context, entries ...custodian.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if e.Action == "" {
			return internal("append audit", errors.New("audit entry without an action"))
		}
	}
	if tx := s.txFrom(ctx); tx != nil {
		return internal("append audit", s.appendAudit(ctx, tx, stamp(ctx, entries)))
	}
	return s.appender.append(ctx, stamp(ctx, entries))
}

// stamped is an audit entry with who caused it and from where, taken from
// the context of the call that recorded it.
type stamped struct {
	custodian.AuditEntry
	actor  string
	origin custodian.Origin
}

func stamp(ctx context.Context, entries []custodian.AuditEntry) []stamped {
	actor, origin := custodian.ActorFrom(ctx), custodian.OriginFrom(ctx)
	out := make([]stamped, len(entries))
	for i, e := range entries {
		out[i] = stamped{AuditEntry: e, actor: actor, origin: origin}
	}
	return out
}

// maxAppendBatch bounds how many entries one shared append writes.
const maxAppendBatch = 2000

// maxFlushing bounds the committed batches that wait for their flush
// barrier at once (see auditAppender.commit), each on a connection.
const maxFlushing = 4

type appendReq struct {
	entries []stamped
	done    chan error
}

// auditAppender gathers the AppendAudit calls that arrive while a batch is
// being written and writes them all in the next transaction.
type auditAppender struct {
	s    *Store
	reqs chan *appendReq
	// flushing holds a place for each batch committed and waiting for
	// its flush barrier, bounding how many wait at once.
	flushing chan struct{}
	quit     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

func newAuditAppender(s *Store) *auditAppender {
	a := &auditAppender{s: s, reqs: make(chan *appendReq), flushing: make(chan struct{}, maxFlushing), quit: make(chan struct{})}
	a.wg.Add(1)
	go a.loop()
	return a
}

// append queues entries and waits for the transaction that writes them.
func (a *auditAppender) append(ctx context.Context, entries []stamped) error {
	r := &appendReq{entries: entries, done: make(chan error, 1)}
	select {
	case a.reqs <- r:
	case <-ctx.Done():
		return internal("append audit", ctx.Err())
	case <-a.quit:
		return internal("append audit", errClosed)
	}
	// Once queued, the entries may be committed whatever ctx does; the
	// caller learns the outcome.
	return <-r.done
}

func (a *auditAppender) close() {
	a.once.Do(func() { close(a.quit) })
	a.wg.Wait()
}

func (a *auditAppender) loop() {
	defer a.wg.Done()
	for {
		var first *appendReq
		select {
		case first = <-a.reqs:
		case <-a.quit:
			return
		}
		batch, n := []*appendReq{first}, len(first.entries)
	gather:
		for n < maxAppendBatch {
			select {
			case r := <-a.reqs:
				batch, n = append(batch, r), n+len(r.entries)
			default:
				break gather
			}
		}
		a.commit(batch)
	}
}

// commit writes a batch in one transaction. Entries were checked before
// they were queued, so a failure is the database's and fails them all.
func (a *auditAppender) commit(batch []*appendReq) {
	var all []stamped
	for _, r := range batch {
		all = append(all, r.entries...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	write := func(ctx context.Context, tx *sql.Tx) error { return a.s.appendAudit(ctx, tx, all) }
	var err error
	if a.s.group != nil {
		err = a.s.group.run(ctx, write)
	} else {
		// The head row is released at the commit, before the commit is
		// on disk where relaxCommit allows it: another instance's batch
		// then extends the chain while this one's WAL is flushed, and
		// the two flushes can be one. The barrier is a later commit
		// that waits for its flush; the log is flushed in order, so
		// once it returns this batch is durable too, and only then do
		// the callers hear of it. A batch the crash takes never had a
		// caller told it was kept, and never a successor on disk
		// without it.
		//
		// The barrier runs beside the next batch (at most maxFlushing
		// at once), so that one instance's batches do not wait for the
		// disk either.
		relaxed := false
		err = a.s.inTx(ctx, "append audit", func(tx *sql.Tx) error {
			var err error
			if relaxed, err = a.s.relaxCommit(ctx, tx, all); err != nil {
				return err
			}
			return write(ctx, tx)
		})
		if err == nil && relaxed {
			a.flushing <- struct{}{}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				err := internal("append audit", a.s.awaitFlush(context.Background()))
				<-a.flushing
				for _, r := range batch {
					r.done <- err
				}
			}()
			return
		}
	}
	err = internal("append audit", err)
	for _, r := range batch {
		r.done <- err
	}
}

// appendAudit seals entries onto the chain and inserts them within tx. It
// takes the chain head with an UPDATE, which holds the head row until the
// transaction ends: concurrent appenders wait for each other, so sequence
// numbers follow commit order without gaps.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, entries []stamped) error {
	if len(entries) == 0 {
		return nil
	}
	if s.chain == nil {
		return errNoChain
	}
	var last int64
	var prev []byte
	err := tx.QueryRowContext(ctx, s.q(`UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash`), len(entries)).Scan(&last, &prev)
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	seq := last - int64(len(entries))
	// Where the database chains writes (Dialect.ChainedWrites), the last
	// INSERT also moves the head's hash and queues the webhook events:
	// the head row is then held for two round trips and the commit,
	// whatever the batch, which is what bounds appends from several
	// instances.
	var outbox string
	var outboxArgs []any
	chained := s.dialect.ChainedWrites
	if chained {
		var err error
		if outbox, outboxArgs, chained, err = outboxInsert(entries, now); err != nil {
			return err
		}
	}
	events := entries
	// Rows per INSERT, well inside both databases' limits on bound
	// parameters (11 per row).
	const chunk = 500
	for len(entries) > 0 {
		part := entries[:min(len(entries), chunk)]
		entries = entries[len(part):]
		var b strings.Builder
		args := make([]any, 0, 11*len(part)+1+len(outboxArgs))
		final := chained && len(entries) == 0
		if final {
			// The head's new hash is the first argument, known once
			// the part is sealed.
			b.WriteString(`WITH head AS (UPDATE audit_head SET hash = ? WHERE id = 1)`)
			args = append(args, nil)
			if outbox != "" {
				b.WriteString(`, outbox AS (` + outbox + `)`)
				args = append(args, outboxArgs...)
			}
			b.WriteByte(' ')
		}
		b.WriteString(`INSERT INTO audit_events (seq, time_us, actor, action, subject, client_addr, request_id, fields, data, prev_hash, hash) VALUES `)
		for i, en := range part {
			if en.Action == "" {
				return errors.New("audit entry without an action")
			}
			seq++
			t := en.Time
			if t.IsZero() {
				t = now
			}
			e := hashchain.Event{Seq: seq, Time: t.UTC().Truncate(time.Microsecond), Actor: en.actor, Action: en.Action, Subject: en.Subject,
				ClientAddr: en.origin.ClientAddr, RequestID: en.origin.RequestID, Fields: en.Fields, Data: nonNilBytes(en.Data)}
			s.chain.Seal(prev, &e)
			prev = e.Hash
			fields, err := json.Marshal(nonNil(e.Fields))
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, e.Seq, micros(e.Time), e.Actor, e.Action, e.Subject, e.ClientAddr, e.RequestID, string(fields), e.Data, nonNilBytes(e.PrevHash), e.Hash)
		}
		if final {
			args[0] = prev
		}
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return fmt.Errorf("append audit events: %w", err)
		}
	}
	if chained {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE audit_head SET hash = ? WHERE id = 1`), prev); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return s.queueWebhookEvents(ctx, tx, events, now)
}

// carriesWebhookEvents reports whether any of entries is a webhook event.
func carriesWebhookEvents(entries []stamped) bool {
	for _, en := range entries {
		if _, ok := custodian.WebhookEventOf(en.AuditEntry); ok {
			return true
		}
	}
	return false
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const auditColumns = `seq, time_us, actor, action, subject, client_addr, request_id, fields, data, prev_hash, hash`

func scanAudit(row scanner) (custodian.AuditEvent, error) {
	var e custodian.AuditEvent
	var us int64
	var fields string
	if err := row.Scan(&e.Seq, &us, &e.Actor, &e.Action, &e.Subject, &e.ClientAddr, &e.RequestID, &fields, &e.Data, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.Time = fromMicros(us)
	if err := json.Unmarshal([]byte(fields), &e.Fields); err != nil {
		return e, fmt.Errorf("audit event %d: fields: %w", e.Seq, err)
	}
	if len(e.Fields) == 0 {
		e.Fields = nil
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, nil
}

// chainEvent is a stored event as the chain seals it.
func chainEvent(e custodian.AuditEvent) hashchain.Event {
	return hashchain.Event{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, Subject: e.Subject,
		ClientAddr: e.ClientAddr, RequestID: e.RequestID, Fields: e.Fields, Data: nonNilBytes(e.Data), PrevHash: e.PrevHash, Hash: e.Hash}
}

// actionFamily is an action's family, "customer." of "customer.update":
// what rtrim leaves of it once the letters, digits and underscores after
// its dot are gone. It reads exactly as the index audit_events_family
// (migration 00060) is defined, so that both databases use that index.
const actionFamily = `rtrim(action, 'abcdefghijklmnopqrstuvwxyz0123456789_')`

// actionWord reports whether s could be the part of an action before its
// dot: lower-case letters, digits and underscores, as every action's
// family is (custodian.AuditActions).
func actionWord(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// AuditEvents returns the events q selects, newest first.
func (s *Store) AuditEvents(ctx context.Context, q custodian.AuditQuery) ([]custodian.AuditEvent, error) {
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT ` + auditColumns + ` FROM audit_events WHERE 1 = 1`)
	add := func(cond string, arg any) {
		b.WriteString(" AND " + cond)
		args = append(args, arg)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if q.Subject != "" {
		add("subject = ?", q.Subject)
	}
	if prefix, ok := strings.CutSuffix(q.Action, "."); ok && prefix != "" {
		if actionWord(prefix) && q.Actor == "" && q.Subject == "" {
			// A family such as "customer.": the index on the family and
			// seq lists it newest first without sorting its events. With
			// an actor or subject their own index is the narrower one,
			// which SQLite (with no statistics) picks only when the
			// family is written as a range.
			add(actionFamily+" = ?", q.Action)
		} else {
			// A range rather than LIKE, so that no wildcard in the input
			// means anything.
			add("action >= ?", prefix+".")
			add("action < ?", prefix+"/")
		}
	} else if q.Action != "" {
		add("action = ?", q.Action)
	}
	if !q.Since.IsZero() {
		add("time_us >= ?", micros(q.Since))
	}
	if !q.Until.IsZero() {
		add("time_us < ?", micros(q.Until))
	}
	if q.SkipReads {
		add("action <> ?", custodian.ActionCustomerRead)
	}
	if q.BeforeSeq > 0 {
		add("seq < ?", q.BeforeSeq)
	}
	// Both directions walk the primary key from the cursor; a previous
	// page is read upwards and turned round below.
	up := q.AfterSeq > 0
	if up {
		add("seq > ?", q.AfterSeq)
		b.WriteString(" ORDER BY seq ASC")
	} else {
		b.WriteString(" ORDER BY seq DESC")
	}
	if q.Limit > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, q.Limit)
	}
	rows, err := s.read.QueryContext(ctx, s.q(b.String()), args...)
	if err != nil {
		return nil, internal("list audit events", err)
	}
	defer rows.Close()
	var out []custodian.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, internal("list audit events", err)
		}
		out = append(out, e)
	}
	if up {
		slices.Reverse(out)
	}
	return out, internal("list audit events", rows.Err())
}

// AuditChain yields the stored events with Seq > after in sequence order,
// as the chain verifier reads them, in pages so that a trail of any length
// is walked in bounded memory.
func (s *Store) AuditChain(ctx context.Context, after int64) iter.Seq2[hashchain.Event, error] {
	const page = 1000
	return func(yield func(hashchain.Event, error) bool) {
		for {
			rows, err := s.reader(ctx).QueryContext(ctx, s.q(`SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`), after, page)
			if err != nil {
				yield(hashchain.Event{}, internal("read audit trail", err))
				return
			}
			var batch []hashchain.Event
			for rows.Next() {
				e, err := scanAudit(rows)
				if err != nil {
					rows.Close()
					yield(hashchain.Event{}, internal("read audit trail", err))
					return
				}
				batch = append(batch, chainEvent(e))
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				yield(hashchain.Event{}, internal("read audit trail", err))
				return
			}
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
				after = e.Seq
			}
			if len(batch) < page {
				return
			}
		}
	}
}

// AuditHead returns the newest event's sequence number and hash as the
// head row records them. It only reads: on PostgreSQL the head may have
// been committed and not yet flushed (see Audited), which is fine for
// checking the trail; an anchor to keep outside the database is read with
// DurableAuditHead.
func (s *Store) AuditHead(ctx context.Context) (hashchain.Anchor, error) {
	var a hashchain.Anchor
	err := s.reader(ctx).QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&a.Seq, &a.Hash)
	return a, internal("read audit head", err)
}

// DurableAuditHead is AuditHead once the head it names is on disk: an
// anchor kept outside the database must never name events a crash could
// take back. On PostgreSQL it waits for a flush (a write, so it needs the
// primary); on SQLite every commit is already durable.
func (s *Store) DurableAuditHead(ctx context.Context) (hashchain.Anchor, error) {
	a, err := s.AuditHead(ctx)
	if err == nil && s.dialect.FlushBarrier != "" {
		_, err = s.write.ExecContext(ctx, s.dialect.FlushBarrier)
	}
	return a, internal("await the audit head's flush", err)
}

var _ custodian.AuditRepository = (*Store)(nil)
