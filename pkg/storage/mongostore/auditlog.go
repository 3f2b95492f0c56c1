package mongostore

// Audit logs (issue 19), without multi-document transactions.
//
//	audit        {_id: "<len>:<owner>:<seq, 20 digits>", owner, seq, time,
//	             hash, data (the event as JSON), keys, action, size},
//	             indexes (owner, seq), time, (owner, keys, seq) (multikey:
//	             an entry per name), (owner, action, seq), (owner, time)
//	audit_heads  {_id: owner, seq, hash, bytes, first}
//
// The unique _id is what keeps a chain from forking: each event is linked
// to the event at seq-1 and inserted at seq, and of writers racing for one
// seq exactly one inserts, the others link again after it. seq and hash
// in audit_heads are a hint of the newest event, so an append needs no
// range query; when the hint lags (a crash after the insert, or racing
// appends setting it out of order), the insert collides and the append
// reads on from the hint by _id to the newest event. first is the oldest
// seq a trim keeps, raised before the trim removes anything: a hint below
// it names an event that may be gone (its successor with it, so an insert
// after it would not collide), and the append asks for the newest event
// instead. It also shares out the subtraction of what trims remove: each
// trim subtracts the events from first as it was before its raise up to
// its own first, so two racing trims never subtract one event twice. And
// readers (Audit, WalkAudit) start there: below it are only events on
// their way out.
//
// Several processes without transactions can still race so that an
// append reads the head, another process appends and trims past that
// head, and the append then inserts into the range just removed, without
// a collision. The update that moves the hint returns first (in the same
// round trip): such an append sees its events below it, removes them
// (they stay counted: too high) and appends them again. A crash before
// it does leaves them below first, where no reader looks and the next
// trim removes them.
//
// bytes is Usage.AuditBytes: the sum of size (audit.StoredSize, the
// length of data) over the owner's events. It only ever runs ahead of the
// events, never behind, so that a crash between two steps over-counts and
// never under-counts. An append first adds an upper bound of what it will
// store (the bound of each event linked at the largest seq and signed, and
// with a quota of a trim event) in the same findAndModify that reads the
// hint; then it inserts; then it sets the hint and gives back what the
// bound overshot, in one findAndModify. A trim (retention or quota) inserts its
// trim event first (counted as above), raises first, removes the old
// events, and subtracts what it removed last. The crash states:
//
//   - after the reservation: the owner counts bytes nothing uses.
//   - after the insert: the events are in, each signed; the hint
//     lags (the next append reads on), the bound's excess is counted.
//   - after the trim event, before or during the removal: the log holds
//     events older than the trim says, which audit.Verify accepts (a trim
//     interrupted half-way); the next trim removes them, and they stay
//     counted (too high) until Recount. The removal is one delete of the
//     seqs below first, which MongoDB runs along the (owner, seq) index,
//     oldest first: what a stop half-way leaves is a run of seqs right
//     before the first kept one, not a gap.
//   - after the removal: the removed events are still counted.
//
// On a replica set an append with its trim is one transaction, and the
// count is exact. Recount repairs an owner counted too high. (As for the
// other counts, several processes on one FerretDB v1 can lose an $inc:
// run one replica there.)
//
// With Quota.AuditBytes an append that takes bytes past the quota removes
// the owner's oldest events, never its own, until bytes is at most
// storage.AuditTrimTarget (three quarters of the quota, less room for the
// trim event), and appends an audit.QuotaTrim event, signed, after its own
// events.
//
// Audit answers from the index of its most selective filter (a key, else
// an action, else none), newest first, from the trim point on (events
// below it are on their way out); a filter the index does not answer
// is checked here on at most storage.AuditScanMax candidates. Since ends
// the scan at the first candidate older than Since - storage.AuditSkew;
// Until lowers the start to the first event at Until + AuditSkew or later,
// found on the (owner, time) index.
//
// A store of schema version 1 (events without keys, action and size, and
// no byte counts) is upgraded once, at Open (upgradeAudit).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// The audit collection's indexes (created in initHistory).
const (
	idxOwnerSeq    = "owner_seq"
	idxOwnerKeys   = "owner_keys_seq"
	idxOwnerAction = "owner_action_seq"
	idxOwnerTime   = "owner_time"
)

const (
	// hintWalk is how far an append reads on past a hint by _id before
	// asking for the newest event.
	hintWalk = 64
	// scanBatch is how many candidates one reply of a filtered Audit
	// holds, so a query's memory does not grow with AuditScanMax.
	scanBatch = 256
)

type eventDoc struct {
	ID     string    `bson:"_id"`
	Owner  string    `bson:"owner"`
	Seq    int64     `bson:"seq"`
	Time   time.Time `bson:"time"`
	Hash   string    `bson:"hash"`
	Data   []byte    `bson:"data"`
	Keys   []string  `bson:"keys"`
	Action string    `bson:"action"`
	Size   int64     `bson:"size"`
}

func eid(owner string, seq uint64) string {
	return strconv.Itoa(len(owner)) + ":" + owner + ":" + fmt.Sprintf("%020d", seq)
}

// newEventDoc is e stored as it is: its JSON, and the fields the indexes
// and the byte count need.
func newEventDoc(owner string, e audit.Event) (eventDoc, error) {
	data, err := json.Marshal(e)
	keys := e.Keys
	if keys == nil {
		keys = []string{}
	}
	return eventDoc{ID: eid(owner, e.Seq), Owner: owner, Seq: int64(e.Seq), Time: e.Time.UTC(), Hash: e.Hash,
		Data: data, Keys: keys, Action: string(e.Action), Size: int64(len(data))}, err
}

func decodeEvent(d *eventDoc) (audit.Event, error) {
	var e audit.Event
	err := json.Unmarshal(d.Data, &e)
	return e, err
}

type headDoc struct {
	Seq   int64  `bson:"seq"`
	Hash  string `bson:"hash"`
	Bytes int64  `bson:"bytes"`
	First int64  `bson:"first"`
	// SigKey and Sig are the signature of the event the hint names, so
	// that an append need not read it (audit.Vouches).
	SigKey string `bson:"sig_key,omitempty"`
	Sig    string `bson:"sig,omitempty"`
}

// hintOf is the hint naming e, the newest event of an append.
func hintOf(h audit.Head, e audit.Event) *headDoc {
	return &headDoc{Seq: int64(h.Seq), Hash: h.Hash, SigKey: e.SigKey, Sig: e.Sig}
}

// setHint is the $set of a hint h.
func setHint(h *headDoc) bson.E {
	return bson.E{Key: "$set", Value: bson.D{{Key: "seq", Value: h.Seq}, {Key: "hash", Value: h.Hash}, {Key: "sig_key", Value: h.SigKey}, {Key: "sig", Value: h.Sig}}}
}

// boundSigKey and boundSig are as long as a signature's fields.
var boundSigKey, boundSig = func() (string, string) {
	sg, err := audit.NewSigner(make([]byte, 32))
	if err != nil {
		panic(err)
	}
	e := audit.Event{Seq: 1, Hash: audit.Genesis}
	sg.Sign("", &e)
	return e.SigKey, e.Sig
}()

// sizeBound is at least audit.StoredSize of e once linked, at any seq, and
// signed: only seq, the hashes and the signature vary with where it goes.
func sizeBound(e audit.Event) int64 {
	e, _ = audit.Link(audit.Head{Seq: math.MaxUint64 - 1, Hash: audit.Genesis}, e)
	e.SigKey, e.Sig = boundSigKey, boundSig
	return audit.StoredSize(e)
}

// crashPoint lets a test stop an append between two steps as a crash
// would (the hook panics).
func (s *Store) crashPoint(step string) {
	if s.crash != nil {
		s.crash(step)
	}
}

// reserveAudit adds n to owner's audit bytes and returns its head
// document, created if need be: one findAndModify by _id.
func (s *Store) reserveAudit(ctx context.Context, owner string, n int64) (headDoc, error) {
	var h headDoc
	err := s.auditHeads.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: owner}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "bytes", Value: n}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&h)
	if mongo.IsDuplicateKeyError(err) && !inTxn(ctx) {
		return s.reserveAudit(ctx, owner, n) // a racing append created it
	}
	return h, err
}

// readHead is owner's head document (zero without one).
func (s *Store) readHead(ctx context.Context, owner string) (headDoc, error) {
	var h headDoc
	err := s.auditHeads.FindOne(ctx, bson.D{{Key: "_id", Value: owner}}).Decode(&h)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return headDoc{}, nil
	}
	return h, err
}

// adjustAudit adds d to owner's audit bytes.
func (s *Store) adjustAudit(ctx context.Context, owner string, d int64) error {
	if d == 0 {
		return nil
	}
	_, err := s.auditHeads.UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "bytes", Value: d}}}})
	return err
}

// giveBackAudit undoes d, the part of a reservation that a failed append
// did not store, even when ctx is done; in a transaction the abort undoes
// it instead.
func (s *Store) giveBackAudit(ctx context.Context, owner string, d int64) {
	if !inTxn(ctx) {
		_ = s.adjustAudit(context.WithoutCancel(ctx), owner, -d) // a failure over-counts, which Recount mends
	}
}

// newest is owner's newest event, starting from the hint in h: the hint
// itself when not exact (an insert after it collides if it lags), or the
// hint and each event after it, read by _id until one is missing. A hint
// below the trim point, or far behind, is replaced by a query for the
// newest event.
func (s *Store) newest(ctx context.Context, owner string, h headDoc, exact bool) (audit.Head, error) {
	head := headDoc{Seq: h.Seq, Hash: h.Hash}
	stale := h.Seq+1 < h.First
	for steps := 0; exact || stale; steps++ {
		if stale || steps == hintWalk {
			err := s.events.FindOne(ctx, bson.D{{Key: "owner", Value: owner}}, options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}}).
				SetProjection(bson.D{{Key: "seq", Value: 1}, {Key: "hash", Value: 1}})).Decode(&head)
			if errors.Is(err, mongo.ErrNoDocuments) {
				return audit.Head{}, nil
			}
			if err != nil {
				return audit.Head{}, err
			}
			break
		}
		var next headDoc
		err := s.events.FindOne(ctx, bson.D{{Key: "_id", Value: eid(owner, uint64(head.Seq+1))}},
			options.FindOne().SetProjection(bson.D{{Key: "seq", Value: 1}, {Key: "hash", Value: 1}})).Decode(&next)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return audit.Head{}, err
		}
		head = next
	}
	return audit.Head{Seq: uint64(head.Seq), Hash: head.Hash}, nil
}

// moveHint sets owner's hint to h and adds d to its bytes: one update by
// _id, which FerretDB answers without a scan. Racing appends can leave the
// hint behind the newest event (the one that set it last was not the
// furthest); the next append that collides reads on past it (newest).
// bytes is right whatever the order.
func (s *Store) moveHint(ctx context.Context, owner string, h *headDoc, d int64) error {
	update := bson.D{setHint(h)}
	if d != 0 {
		update = append(update, bson.E{Key: "$inc", Value: bson.D{{Key: "bytes", Value: d}}})
	}
	_, err := s.auditHeads.UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}}, update, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) && !inTxn(ctx) {
		// A racing append created it: update it.
		_, err = s.auditHeads.UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}}, update)
	}
	return err
}

// raiseFirst raises owner's trim point to keep, before a trim removes the
// events below it, and returns what it was: the trim removes and
// subtracts the events from there to keep, which no other trim does
// (each takes the range from the point before its raise to its own).
// With h it also moves the hint and adds d to the bytes, as moveHint.
func (s *Store) raiseFirst(ctx context.Context, owner string, keep uint64, h *headDoc, d int64) (uint64, error) {
	update := bson.D{}
	if keep > 0 {
		update = append(update, bson.E{Key: "$max", Value: bson.D{{Key: "first", Value: int64(keep)}}})
	}
	if h != nil {
		update = append(update, setHint(h))
	}
	if d != 0 {
		update = append(update, bson.E{Key: "$inc", Value: bson.D{{Key: "bytes", Value: d}}})
	}
	var was headDoc
	err := s.auditHeads.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: owner}}, update,
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)).Decode(&was)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return 0, nil // created
	case mongo.IsDuplicateKeyError(err) && !inTxn(ctx):
		return s.raiseFirst(ctx, owner, keep, h, d) // a racing append created it
	}
	return uint64(max(was.First, 0)), err
}

// AppendAudit implements storage.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, owner string, events []audit.Event) error {
	return s.atomically(ctx, func(ctx context.Context) error { return s.appendAudit(ctx, owner, events) })
}

// appendAudit links events after the owner's newest, signs the last one it
// links, and inserts them in order, with a quota trim when the quota asks
// for one; an insert that collides with a racing writer's event is linked
// again after the new newest, with the ones after it. See the notes at
// the top for the order of the steps.
func (s *Store) appendAudit(ctx context.Context, owner string, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	t := now()
	var reserve int64
	for _, e := range events {
		reserve += sizeBound(e)
	}
	if s.quota.AuditBytes > 0 {
		reserve += sizeBound(audit.QuotaTrim(t, math.MaxUint64, audit.Genesis))
	}
	reserve += sizeBound(audit.Event{Time: t, Action: audit.Break}) // an adoption or a break (continuation)
	hd, err := s.reserveAudit(ctx, owner, reserve)
	if err != nil {
		return err
	}
	s.crashPoint("reserved")
	var stored int64 // bytes of this append's events inserted so far
	var own uint64   // the first seq this append inserted, 0 before any
	head, err := s.newest(ctx, owner, hd, inTxn(ctx))
	backoff := time.Millisecond
	for attempt := 1; err == nil; attempt++ {
		var first *audit.Event
		if first, err = s.continuation(ctx, owner, head, hd); err != nil {
			break
		}
		evs := audit.Prepend(first, events)
		var p auditPlan
		p, err = s.plan(ctx, owner, head, evs, hd.Bytes-reserve+stored, own, uint64(max(hd.First, 0)), t)
		if err != nil {
			break
		}
		if len(p.docs) > 0 {
			_, err = s.events.InsertMany(ctx, p.docs, options.InsertMany().SetOrdered(true))
		}
		if err == nil {
			// In: from here on a failure over-counts at worst.
			s.crashPoint("inserted")
			stale, err := s.finish(ctx, owner, p, reserve-stored-p.bytes(len(p.docs)))
			if err != nil || !stale {
				return err
			}
			// They went in below the trim point: append them again.
			s.crashPoint("stale")
			if err := s.dropStale(ctx, owner, p.docs); err != nil {
				return err
			}
			if attempt == raceAttempts {
				return errRaced
			}
			return s.appendAudit(ctx, owner, events)
		}
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || !mongo.IsDuplicateKeyError(bwe.WriteErrors[0]) {
			// Any of them may be in: keep them counted.
			stored += p.bytes(len(p.docs))
			break
		}
		if inTxn(ctx) {
			break
		}
		k := bwe.WriteErrors[0].Index
		if k > 0 {
			// Those before it are in (FerretDB v1 may misreport which
			// one failed: then maybe more of them, counted all).
			n := k
			if s.ferret {
				n = len(p.docs)
			}
			stored += p.bytes(n)
			if hd, err = s.readHead(ctx, owner); err != nil {
				break
			}
			switch {
			case p.docs[0].(eventDoc).Seq < hd.First:
				// Into a range that a racing trim removed (the head read
				// was behind it): they stay counted (too high), go, and
				// are appended again, with room taken for them anew.
				s.crashPoint("stale")
				if err = s.dropStale(ctx, owner, p.docs[:n]); err == nil {
					err = s.adjustAudit(ctx, owner, p.bytes(n))
					reserve += p.bytes(n)
					hd.Bytes += p.bytes(n)
				}
			case s.ferret:
				err = fmt.Errorf("mongostore: audit insert collided at %d", k)
			default:
				if own == 0 {
					own = uint64(p.docs[0].(eventDoc).Seq)
				}
				events = evs[min(k, len(evs)):]
			}
			if err != nil {
				break
			}
		}
		if attempt == raceAttempts {
			err = errRaced
			break
		}
		if attempt > 1 {
			if err = backOff(ctx, &backoff); err != nil {
				break
			}
		}
		if k == 0 {
			hd, err = s.readHead(ctx, owner)
		}
		if err == nil {
			head, err = s.newest(ctx, owner, hd, true)
		}
	}
	s.giveBackAudit(ctx, owner, reserve-stored)
	return err
}

// continuation is audit.Continue on owner's log, whose newest event is
// head: with the signature the hint hd keeps when it names head, else the
// one of the event stored at head.Seq.
func (s *Store) continuation(ctx context.Context, owner string, head audit.Head, hd headDoc) (*audit.Event, error) {
	if uint64(hd.Seq) == head.Seq && hd.Hash == head.Hash && audit.Vouches(ctx, owner, head, hd.SigKey, hd.Sig) {
		return nil, nil
	}
	var sig eventSig
	if head.Seq > 0 {
		d, err := s.oneEvent(ctx, bson.D{{Key: "_id", Value: eid(owner, head.Seq)}}, 1)
		if err != nil {
			return nil, err
		}
		if d != nil {
			_ = json.Unmarshal(d.Data, &sig) // unreadable: unsigned
		}
	}
	return audit.Continue(ctx, owner, head, sig.SigKey, sig.Sig, func() (bool, error) {
		cur, err := s.events.Find(ctx, bson.D{{Key: "owner", Value: owner}}, options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}).
			SetHint(idxOwnerSeq).SetBatchSize(scanBatch).SetProjection(bson.D{{Key: "data", Value: 1}}))
		found := false
		err = each(ctx, cur, err, func(d *eventDoc) error {
			var sig eventSig
			if json.Unmarshal(d.Data, &sig) == nil && sig.Sig != "" {
				found = true
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return false, err
		}
		return found, nil
	})
}

// eventSig is the signature an event's JSON carries.
type eventSig struct {
	SigKey string `json:"sig_key"`
	Sig    string `json:"sig"`
}

// auditPlan is what one attempt of an append inserts: its events linked
// after head, and a quota trim event after them when keep is set, which
// removes gone (the oldest events, below keep).
type auditPlan struct {
	docs   []any // eventDoc
	head   audit.Head
	newest audit.Event // the event at head
	keep   uint64
	gone   []sized // the events below keep, oldest first
}

// sized is an event's seq and size.
type sized struct {
	Seq  int64 `bson:"seq"`
	Size int64 `bson:"size"`
}

// bytes is the size of the first n docs.
func (p *auditPlan) bytes(n int) int64 {
	var b int64
	for _, d := range p.docs[:n] {
		b += d.(eventDoc).Size
	}
	return b
}

// plan links events after head and signs the newest; base is what the
// owner's log counts besides them. With a quota that they take base past,
// it adds a quota trim of the oldest events below own (this append's first
// stored event, 0 for none yet) and below events.
func (s *Store) plan(ctx context.Context, owner string, head audit.Head, events []audit.Event, base int64, own, first uint64, t time.Time) (auditPlan, error) {
	p := auditPlan{head: head}
	linked := make([]audit.Event, len(events))
	for i, e := range events {
		e.Keys = append([]string{}, e.Keys...)
		linked[i], p.head = audit.Link(p.head, e)
	}
	// Every event is signed, not only the newest: without a transaction
	// another writer can find this append half-inserted, and must find its
	// head signed (audit.Continue).
	for i := range linked {
		audit.SignHead(ctx, owner, &linked[i])
	}
	if len(linked) > 0 {
		p.newest = linked[len(linked)-1]
	}
	if err := p.add(owner, linked); err != nil {
		return p, err
	}
	q := s.quota.AuditBytes
	total := base + p.bytes(len(p.docs))
	if q <= 0 || total <= q {
		return p, nil
	}
	// Over the quota: the oldest events go and a trim follows.
	limit := head.Seq + 1
	if own > 0 {
		limit = min(limit, own)
	}
	// Remove at least need bytes, so that what is left, before the trim
	// event, is at most the target (which leaves room for that event).
	need := total - storage.AuditTrimTarget(q)
	// Below first the events are trimmed already (a crash or a racing
	// trim left them): they count for nothing here.
	cur, err := s.events.Find(ctx, bson.D{{Key: "owner", Value: owner}, {Key: "seq", Value: bson.D{{Key: "$gte", Value: int64(first)}, {Key: "$lt", Value: int64(limit)}}}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetHint(idxOwnerSeq).SetBatchSize(scanBatch).
			SetProjection(bson.D{{Key: "seq", Value: 1}, {Key: "size", Value: 1}, {Key: "hash", Value: 1}}))
	var freed int64
	var anchor string
	err = each(ctx, cur, err, func(d *eventDoc) error {
		p.gone = append(p.gone, sized{Seq: d.Seq, Size: d.Size})
		freed += d.Size
		p.keep, anchor = uint64(d.Seq)+1, d.Hash
		if freed >= need {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return p, err
	}
	if p.keep == 0 {
		// Nothing older to remove: the events alone are past the quota.
		return p, nil
	}
	var trim audit.Event
	trim, p.head = audit.Link(p.head, audit.QuotaTrim(t, p.keep, anchor))
	audit.SignHead(ctx, owner, &trim)
	p.newest = trim
	return p, p.add(owner, []audit.Event{trim})
}

// errEnough ends a cursor loop that has read what it needs.
var errEnough = errors.New("enough")

// add appends linked events to p's docs.
func (p *auditPlan) add(owner string, linked []audit.Event) error {
	for _, e := range linked {
		d, err := newEventDoc(owner, e)
		if err != nil {
			return err
		}
		p.docs = append(p.docs, d)
	}
	return nil
}

// finish moves the hint to p's head, giving back over of the reservation,
// and, for a trim, raises the trim point (in the same update) and removes
// the events below p.keep. It reports the docs stale when they went in
// below the trim point as it was: into a range a racing trim had removed
// since the head was read (several processes without transactions); they
// are not part of the log then.
func (s *Store) finish(ctx context.Context, owner string, p auditPlan, over int64) (stale bool, err error) {
	if len(p.docs) == 0 {
		return false, s.adjustAudit(ctx, owner, -over)
	}
	was, err := s.raiseFirst(ctx, owner, p.keep, hintOf(p.head, p.newest), -over)
	if err != nil {
		return false, err
	}
	if uint64(p.docs[0].(eventDoc).Seq) < was {
		return true, nil
	}
	if p.keep == 0 {
		return false, nil
	}
	s.crashPoint("hinted")
	return false, s.removeBefore(ctx, owner, p.keep, was, p.gone)
}

// dropStale removes docs that an append inserted below the trim point
// (they stay counted: too high, never too low).
func (s *Store) dropStale(ctx context.Context, owner string, docs []any) error {
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.(eventDoc).ID
	}
	_, err := s.events.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}},
		{Key: "hash", Value: bson.D{{Key: "$in", Value: hashes(docs)}}}})
	return err
}

func hashes(docs []any) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.(eventDoc).Hash
	}
	return out
}

// removeBefore removes owner's events below keep and subtracts what those
// from was (the trim point before this trim raised it to keep) on
// counted, as read in gone (nil: read them now). It subtracts them after
// its delete, which leaves none of them, whoever removes which; and no
// other trim subtracts them. A trim that stops before it subtracts leaves
// them counted: too high, never too low.
func (s *Store) removeBefore(ctx context.Context, owner string, keep, was uint64, gone []sized) error {
	filter := bson.D{{Key: "owner", Value: owner}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: int64(keep)}}}}
	if gone == nil && was < keep {
		cur, err := s.events.Find(ctx, bson.D{{Key: "owner", Value: owner}, {Key: "seq", Value: bson.D{{Key: "$gte", Value: int64(was)}, {Key: "$lt", Value: int64(keep)}}}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "seq", Value: 1}, {Key: "size", Value: 1}}).SetBatchSize(inChunk))
		err = each(ctx, cur, err, func(d *sized) error {
			gone = append(gone, *d)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if _, err := s.events.DeleteMany(ctx, filter); err != nil {
		return err
	}
	s.crashPoint("removed")
	var freed int64
	for _, g := range gone {
		if uint64(g.Seq) >= was && uint64(g.Seq) < keep {
			freed += g.Size
		}
	}
	return s.adjustAudit(ctx, owner, -freed)
}

func (s *Store) oneEvent(ctx context.Context, filter bson.D, sort int) (*eventDoc, error) {
	d := new(eventDoc)
	err := s.events.FindOne(ctx, filter, options.FindOne().SetSort(bson.D{{Key: "seq", Value: sort}})).Decode(d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	return d, err
}

// TrimAudit implements storage.AuditLog: per owner, the trim event is
// appended first, the trim point raised, and the old events removed after
// it, so a crash between leaves a log with a few events more than the
// trim says, which verifies (audit.Verify allows it) and the next trim
// removes.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) error {
	// $group, not distinct: FerretDB v1 refuses distinct with maxTimeMS,
	// which the driver adds under a deadline.
	cur, err := s.events.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "time", Value: bson.D{{Key: "$lt", Value: before}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$owner"}}}},
	})
	owners, err := all[struct {
		Owner string `bson:"_id"`
	}](ctx, cur, err)
	if err != nil {
		return err
	}
	for _, o := range owners {
		owner := o.Owner
		err := s.atomically(ctx, func(ctx context.Context) error {
			last, err := s.oneEvent(ctx, bson.D{{Key: "owner", Value: owner}, {Key: "time", Value: bson.D{{Key: "$lt", Value: before}}}}, -1)
			if err != nil || last == nil {
				return err
			}
			newest, err := s.oneEvent(ctx, bson.D{{Key: "owner", Value: owner}}, -1)
			if err != nil {
				return err
			}
			first, err := s.oneEvent(ctx, bson.D{{Key: "owner", Value: owner}}, 1)
			if err != nil {
				return err
			}
			keep := min(last.Seq+1, newest.Seq) // the newest event always stays
			if keep <= first.Seq {
				return nil
			}
			kept, err := s.oneEvent(ctx, bson.D{{Key: "_id", Value: eid(owner, uint64(keep))}}, 1)
			if err != nil {
				return err
			}
			if kept == nil {
				return fmt.Errorf("mongostore: audit event %d of an owner is missing", keep)
			}
			ke, err := decodeEvent(kept)
			if err != nil {
				return err
			}
			ne, err := decodeEvent(newest)
			if err != nil {
				return err
			}
			if ne.Trimmed == nil || ne.Trimmed.FirstSeq != uint64(keep) { // not a trim interrupted before its delete
				t := now()
				trim := audit.RetentionTrim(t, uint64(keep), ke.PrevHash, before, t.Sub(before))
				if err := s.appendAudit(ctx, owner, []audit.Event{trim}); err != nil {
					return err
				}
			}
			s.crashPoint("trim appended")
			was, err := s.raiseFirst(ctx, owner, uint64(keep), nil, 0)
			if err != nil {
				return err
			}
			return s.removeBefore(ctx, owner, uint64(keep), was, nil)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Audit implements storage.AuditLog (see the notes at the top).
func (s *Store) Audit(ctx context.Context, owner string, q storage.AuditQuery) (storage.AuditPage, error) {
	out := storage.AuditPage{Events: []audit.Event{}}
	before := q.Before
	if !q.Until.IsZero() {
		// Every event from the first one at Until + AuditSkew or later on
		// is at Until or later (AuditSkew).
		var d eventDoc
		err := s.events.FindOne(ctx, bson.D{{Key: "owner", Value: owner}, {Key: "time", Value: bson.D{{Key: "$gte", Value: q.Until.Add(storage.AuditSkew)}}}},
			options.FindOne().SetSort(bson.D{{Key: "time", Value: 1}}).SetHint(idxOwnerTime).SetProjection(bson.D{{Key: "seq", Value: 1}})).Decode(&d)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
		case err != nil:
			return storage.AuditPage{}, err
		case before == 0 || uint64(d.Seq) < before:
			before = uint64(d.Seq)
		}
	}
	if before == 1 || q.Limit <= 0 {
		return out, ctx.Err()
	}
	// Below the trim point are only events a trim is removing, or that an
	// append put there racing it: not part of the log.
	hd, err := s.readHead(ctx, owner)
	if err != nil {
		return storage.AuditPage{}, err
	}
	first := uint64(max(hd.First, 1))
	if before != 0 && before <= first {
		return out, ctx.Err()
	}
	filter, hint := bson.D{{Key: "owner", Value: owner}}, idxOwnerSeq
	switch {
	case q.Key != "":
		filter, hint = append(filter, bson.E{Key: "keys", Value: q.Key}), idxOwnerKeys
	case q.Action != "":
		filter, hint = append(filter, bson.E{Key: "action", Value: string(q.Action)}), idxOwnerAction
	}
	seq := bson.D{{Key: "$gte", Value: int64(first)}}
	if before > 0 {
		seq = append(seq, bson.E{Key: "$lt", Value: int64(before)})
	}
	filter = append(filter, bson.E{Key: "seq", Value: seq})
	// Without a filter the index leaves open every candidate matches: read
	// limit of them. Else read candidates until limit match, AuditScanMax
	// at most.
	exact := (q.Key == "" || q.Action == "") && q.Since.IsZero() && q.Until.IsZero()
	limit, batch := q.Limit, q.Limit
	if !exact {
		limit, batch = storage.AuditScanMax, scanBatch
	}
	cur, err := s.events.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "seq", Value: -1}}).SetHint(hint).
		SetLimit(int64(limit)).SetBatchSize(int32(batch)))
	examined, last, older := 0, uint64(0), false
	err = each(ctx, cur, err, func(d *eventDoc) error {
		examined, last = examined+1, uint64(d.Seq)
		if !q.Since.IsZero() && d.Time.Before(q.Since.Add(-storage.AuditSkew)) {
			older = true // and so is every event before it
			return errEnough
		}
		if q.Action != "" && d.Action != string(q.Action) || !q.Since.IsZero() && d.Time.Before(q.Since) ||
			!q.Until.IsZero() && !d.Time.Before(q.Until) {
			return nil
		}
		e, err := decodeEvent(d)
		if err != nil {
			return err
		}
		if !storage.MatchAudit(q, e) {
			return nil
		}
		out.Events = append(out.Events, e)
		if len(out.Events) == q.Limit {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return storage.AuditPage{}, err
	}
	if !older && (len(out.Events) == q.Limit || examined == limit) && last > first {
		out.Next = last
	}
	return out, nil
}

// recountAudit sets owner's audit bytes to the sizes of its events.
func (s *Store) recountAudit(ctx context.Context, owner string) error {
	// ($group's $sum would add them on the server, but FerretDB v1
	// answers 0.)
	cur, err := s.events.Find(ctx, bson.D{{Key: "owner", Value: owner}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "size", Value: 1}}).SetBatchSize(inChunk))
	var sum, n int64
	err = each(ctx, cur, err, func(d *sized) error {
		sum, n = sum+d.Size, n+1
		return nil
	})
	if err != nil || n == 0 {
		return err
	}
	_, err = s.auditHeads.UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "bytes", Value: sum}}}}, options.UpdateOne().SetUpsert(true))
	return err
}

// upgradeAudit brings the audit logs of a store of schema version 1 to
// version 2: each event gets the keys, action and size that the indexes
// and counts read, and each owner's bytes count it. It goes through the
// events without a size in _id order, a batch at a time, adding a
// batch's sizes to their owners before marking the batch's events sized,
// so that a crash, or a second replica upgrading at once, over-counts and
// never under-counts (Recount mends it); an interrupted upgrade goes on
// at the next Open. Stop the replicas of the previous release first:
// events they write after it are neither indexed nor counted.
func (s *Store) upgradeAudit(ctx context.Context) error {
	after := ""
	for {
		cur, err := s.events.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}, {Key: "size", Value: bson.D{{Key: "$exists", Value: false}}}},
			options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(inChunk))
		docs, err := all[eventDoc](ctx, cur, err)
		if err != nil || len(docs) == 0 {
			return err
		}
		bytes := map[string]int64{}
		sized := make([]mongo.WriteModel, 0, len(docs))
		for _, d := range docs {
			e, err := decodeEvent(&d)
			if err != nil {
				return fmt.Errorf("mongostore: upgrading audit event %s: %w", d.ID, err)
			}
			size := audit.StoredSize(e)
			keys := e.Keys
			if keys == nil {
				keys = []string{}
			}
			bytes[d.Owner] += size
			sized = append(sized, mongo.NewUpdateOneModel().
				SetFilter(bson.D{{Key: "_id", Value: d.ID}, {Key: "size", Value: bson.D{{Key: "$exists", Value: false}}}}).
				SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "keys", Value: keys}, {Key: "action", Value: string(e.Action)}, {Key: "size", Value: size}}}}))
		}
		counts := make([]mongo.WriteModel, 0, len(bytes))
		for owner, n := range bytes {
			counts = append(counts, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: owner}}).
				SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "bytes", Value: n}}}}).SetUpsert(true))
		}
		if _, err := s.auditHeads.BulkWrite(ctx, counts, options.BulkWrite().SetOrdered(false)); err != nil {
			return err
		}
		if _, err := s.events.BulkWrite(ctx, sized, options.BulkWrite().SetOrdered(false)); err != nil {
			return err
		}
		after = docs[len(docs)-1].ID
	}
}
