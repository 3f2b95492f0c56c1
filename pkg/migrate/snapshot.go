package migrate

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// A snapshot (backup file) is JSON lines: a header, one line per secret
// with its value as stored (sealed, base64), then (format version 2) one
// line per kept version and one per audit event, and a trailer with the
// counts and (format version 3) an HMAC-SHA-256 of every byte before it,
// keyed by a key derived from the master key whose id the header names
// (mac_key), so an edited file is refused even with a recomputed trailer:
//
//	{"format":"nosana-secrets-backup","version":3,"created":…,"key_ids":[…],"mac_key":"<id>","owners":N,"secrets":M,"versions":V,"events":E}
//	{"owner":…,"name":…,"value":"<base64>","version":1,"created_at":…,"updated_at":…}
//	{"kind":"version","owner":…,"name":…,"value":"<base64>"|null,"version":3,"created_at":…,"deleted":true,"by":…,"job":…}
//	{"kind":"audit","owner":…,"event":{"seq":1,…,"prev_hash":…,"hash":…}}
//	{"end":true,"secrets":M,"versions":V,"events":E,"hmac_sha256":"<hex>"}
//
// Secret lines are sorted by owner and name, version lines by owner, name
// and number, audit lines by owner and seq, so a restore takes one owner's
// history at a time and two backups of the same content are the same
// bytes (but the header's created time and the MAC). Files of
// version 1 (secrets only) and 2 still read; their trailer holds the bare
// SHA-256 ("sha256"), which anyone can recompute: they are not
// authenticated (Authenticated).
const (
	SnapshotFormat  = "nosana-secrets-backup"
	SnapshotVersion = 3
	// MACPurpose is the seal.Keyring.Derive purpose of the MAC key.
	MACPurpose = "backup-mac/v1"
	// MACKeySize is the size of the MAC key.
	MACKeySize = 32
)

// Authenticated reports whether a file of format version v carries a
// keyed MAC.
func Authenticated(v int) bool { return v >= 3 }

// Record kinds of a snapshot line.
const (
	KindSecret  = ""
	KindVersion = "version"
	KindAudit   = "audit"
)

// ErrSnapshot is wrapped by every error about a snapshot file's content.
var ErrSnapshot = errors.New("not a whole nosana-secrets backup")

// SnapshotHeader is the first line of a snapshot.
type SnapshotHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Backend string    `json:"backend,omitempty"`
	// KeyIDs are the ids of the master keys that sealed the values: a
	// keyring that restores the file must hold all of them.
	KeyIDs []string `json:"key_ids"`
	// MACKey is the id of the master key the trailer's MAC key is derived
	// from (version 3).
	MACKey   string `json:"mac_key,omitempty"`
	Owners   int64  `json:"owners"`
	Secrets  int64  `json:"secrets"`
	Versions int64  `json:"versions,omitempty"`
	Events   int64  `json:"events,omitempty"`
}

// SnapshotRecord is one line of a snapshot: a secret (Kind ""), a kept
// version or an audit event; values sealed.
type SnapshotRecord struct {
	Kind      string       `json:"kind,omitempty"`
	Owner     string       `json:"owner"`
	Name      string       `json:"name,omitempty"`
	Value     []byte       `json:"value"`
	Version   int64        `json:"version,omitempty"`
	CreatedAt time.Time    `json:"created_at,omitzero"`
	UpdatedAt time.Time    `json:"updated_at,omitzero"`
	Deleted   bool         `json:"deleted,omitempty"`
	By        string       `json:"by,omitempty"`
	Job       string       `json:"job,omitempty"`
	Event     *audit.Event `json:"event,omitempty"`
}

// AsVersion is a version record as a storage.Version.
func (r SnapshotRecord) AsVersion() storage.Version {
	return storage.Version{Name: r.Name, Version: r.Version, Value: r.Value, Deleted: r.Deleted,
		CreatedAt: r.CreatedAt, By: storage.Writer{Address: r.By, Job: r.Job}}
}

type trailer struct {
	End      bool   `json:"end"`
	Secrets  int64  `json:"secrets"`
	Versions int64  `json:"versions,omitempty"`
	Events   int64  `json:"events,omitempty"`
	SHA256   string `json:"sha256,omitempty"`      // versions 1 and 2
	HMAC     string `json:"hmac_sha256,omitempty"` // version 3
}

// KeyID is the hex id of the key that sealed blob (see pkg/seal), or ""
// when blob is not a sealed value.
func KeyID(blob []byte) string {
	if len(blob) < 5 || blob[0] != 0x01 {
		return ""
	}
	return hex.EncodeToString(blob[1:5])
}

// WalkFunc visits every secret of a store, as storage.Store's Walk does.
type WalkFunc func(ctx context.Context, fn func(owner string, s storage.Secret) error) error

// SnapshotSource is what a snapshot reads: the secrets, and of a store
// that keeps history its versions (storage.HistoryAdmin's WalkVersions)
// and audit logs; Audit is told the owners the other two saw.
type SnapshotSource struct {
	Secrets  WalkFunc
	Versions func(ctx context.Context, fn func(owner string, v storage.Version) error) error
	Audit    func(ctx context.Context, owners []string, fn func(owner string, e audit.Event) error) error
}

// spooled is a line in a spool file with the key it sorts by.
type spooled struct {
	owner, name string
	n           int64 // version or seq
	off         int64
	size        int
}

// MACKey is the key that authenticates a snapshot: derived with
// MACPurpose from the master key with id ID.
type MACKey struct {
	ID  string
	Key []byte
}

// WriteSnapshot writes everything src visits to w, skipping the owners in
// skip (the server's own records), and ends it with the HMAC-SHA-256 of
// every byte under mac. The records are spooled to temporary
// files first, so the header can say what follows while memory stays
// bounded (versions and events are sorted by a small index); w receives
// the snapshot only once every walk succeeded.
func WriteSnapshot(ctx context.Context, w io.Writer, src SnapshotSource, h SnapshotHeader, mac MACKey, skip ...string) (SnapshotHeader, error) {
	if len(mac.Key) < MACKeySize || mac.ID == "" {
		return h, errors.New("backup: no MAC key")
	}
	spool, err := os.CreateTemp("", "nosana-secrets-backup-*")
	if err != nil {
		return h, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	hist, err := os.CreateTemp("", "nosana-secrets-backup-history-*")
	if err != nil {
		return h, err
	}
	defer os.Remove(hist.Name())
	defer hist.Close()

	sw := &countingWriter{w: bufio.NewWriterSize(spool, 1<<20)}
	enc := json.NewEncoder(sw)
	var secrets []spooled
	owners := map[string]struct{}{}
	keys := map[string]struct{}{}
	skipped := func(owner string) bool { return slices.Contains(skip, owner) }
	err = src.Secrets(ctx, func(owner string, s storage.Secret) error {
		if skipped(owner) {
			return nil
		}
		owners[owner] = struct{}{}
		if id := KeyID(s.Value); id != "" {
			keys[id] = struct{}{}
		}
		h.Secrets++
		off := sw.n
		if err := enc.Encode(SnapshotRecord{Owner: owner, Name: s.Name, Value: s.Value, Version: s.Version,
			CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}); err != nil {
			return err
		}
		secrets = append(secrets, spooled{owner, s.Name, 0, off, int(sw.n - off)})
		return nil
	})
	if err == nil {
		err = sw.w.Flush()
	}
	if err != nil {
		return h, err
	}

	// Versions, then events, each line indexed to be written sorted.
	hw := &countingWriter{w: bufio.NewWriterSize(hist, 1<<20)}
	henc := json.NewEncoder(hw)
	var versions, events []spooled
	add := func(index *[]spooled, owner, name string, n int64, rec SnapshotRecord) error {
		off := hw.n
		if err := henc.Encode(rec); err != nil {
			return err
		}
		*index = append(*index, spooled{owner, name, n, off, int(hw.n - off)})
		return nil
	}
	if src.Versions != nil {
		err = src.Versions(ctx, func(owner string, v storage.Version) error {
			if skipped(owner) {
				return nil
			}
			owners[owner] = struct{}{}
			if id := KeyID(v.Value); id != "" && !v.Deleted {
				keys[id] = struct{}{}
			}
			rec := SnapshotRecord{Kind: KindVersion, Owner: owner, Name: v.Name, Value: v.Value, Version: v.Version,
				CreatedAt: v.CreatedAt.UTC(), Deleted: v.Deleted, By: v.By.Address, Job: v.By.Job}
			if v.Deleted {
				rec.Value = nil
			}
			return add(&versions, owner, v.Name, v.Version, rec)
		})
		if err != nil {
			return h, err
		}
	}
	if src.Audit != nil {
		seen := make([]string, 0, len(owners))
		for o := range owners {
			seen = append(seen, o)
		}
		sort.Strings(seen)
		err = src.Audit(ctx, seen, func(owner string, e audit.Event) error {
			if skipped(owner) {
				return nil
			}
			owners[owner] = struct{}{}
			return add(&events, owner, "", int64(e.Seq), SnapshotRecord{Kind: KindAudit, Owner: owner, Event: &e})
		})
		if err != nil {
			return h, err
		}
	}
	if err := hw.w.Flush(); err != nil {
		return h, err
	}
	byKey := func(a, b spooled) int {
		return cmp.Or(strings.Compare(a.owner, b.owner), strings.Compare(a.name, b.name), cmp.Compare(a.n, b.n))
	}
	slices.SortFunc(secrets, byKey)
	slices.SortFunc(versions, byKey)
	slices.SortFunc(events, byKey)

	h.Format, h.Version, h.Owners, h.MACKey = SnapshotFormat, SnapshotVersion, int64(len(owners)), mac.ID
	h.Versions, h.Events = int64(len(versions)), int64(len(events))
	h.KeyIDs = make([]string, 0, len(keys))
	for id := range keys {
		h.KeyIDs = append(h.KeyIDs, id)
	}
	sort.Strings(h.KeyIDs)

	sum := hmac.New(sha256.New, mac.Key)
	bout := bufio.NewWriterSize(w, 1<<20)
	out := io.MultiWriter(bout, sum)
	if err := json.NewEncoder(out).Encode(h); err != nil {
		return h, err
	}
	buf := make([]byte, 0, 64<<10)
	for i, index := range [][]spooled{secrets, versions, events} {
		from := hist
		if i == 0 {
			from = spool
		}
		for _, l := range index {
			buf = slices.Grow(buf[:0], l.size)[:l.size]
			if _, err := from.ReadAt(buf, l.off); err != nil {
				return h, err
			}
			if _, err := out.Write(buf); err != nil {
				return h, err
			}
		}
	}
	t := trailer{End: true, Secrets: h.Secrets, Versions: h.Versions, Events: h.Events, HMAC: hex.EncodeToString(sum.Sum(nil))}
	if err := json.NewEncoder(bout).Encode(t); err != nil {
		return h, err
	}
	return h, bout.Flush()
}

type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// DefaultBodyLimit is the server's default BODY_LIMIT (server.DefaultBodyLimit):
// the largest value it accepts, when nothing says otherwise.
const DefaultBodyLimit = 1 << 20

// MaxLine is the longest line a snapshot of a server whose largest
// request body is bodyLimit bytes can hold: a value of that size sealed
// (a few bytes more) in base64, and an envelope as long as the body again,
// which covers the names and writer around a value and an audit event of
// any request of that size (events written before they were bounded list
// every name a request sent).
func MaxLine(bodyLimit int64) int {
	sealed := bodyLimit + 64
	return int(4*((sealed+2)/3) + bodyLimit + 64<<10)
}

// SnapshotReader reads snapshots.
type SnapshotReader struct {
	// MaxLine bounds each line (MaxLine(DefaultBodyLimit) when 0): a longer
	// one is an error naming it, read no further, so memory stays flat
	// whatever the file holds.
	MaxLine int
	// MACKey returns the MAC key derived from the master key with id (the
	// header's mac_key); nil refuses files of version 3.
	MACKey func(id string) ([]byte, error)
}

// ReadSnapshot is SnapshotReader{}.Read: it reads files of version 1 and 2
// only.
func ReadSnapshot(r io.Reader, fn func(SnapshotRecord) error) (SnapshotHeader, error) {
	return SnapshotReader{}.Read(r, fn)
}

// Read reads a snapshot from r, calling fn for each record, and checks it
// whole: header, every line, counts and the trailer's MAC (or, of a file
// of version 1 or 2, its bare checksum). An error from the end of the file
// means fn has seen records of a file that is not whole or not authentic:
// verify with a first pass before acting on the records.
func (sr SnapshotReader) Read(r io.Reader, fn func(SnapshotRecord) error) (SnapshotHeader, error) {
	var h SnapshotHeader
	max := sr.MaxLine
	if max <= 0 {
		max = MaxLine(DefaultBodyLimit)
	}
	lr := &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
	line, err := lr.next()
	if err != nil {
		if errors.Is(err, ErrSnapshot) {
			return h, err
		}
		return h, fmt.Errorf("%w: no header: %v", ErrSnapshot, err)
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format != SnapshotFormat {
		return h, fmt.Errorf("%w: the first line is not a backup header", ErrSnapshot)
	}
	if h.Version < 1 || h.Version > SnapshotVersion {
		return h, fmt.Errorf("%w: format version %d, this build reads 1 to %d", ErrSnapshot, h.Version, SnapshotVersion)
	}
	var sum hash.Hash
	if Authenticated(h.Version) {
		if h.MACKey == "" {
			return h, fmt.Errorf("%w: the header names no MAC key", ErrSnapshot)
		}
		if sr.MACKey == nil {
			return h, fmt.Errorf("%w: no master key to authenticate it with", ErrSnapshot)
		}
		key, err := sr.MACKey(h.MACKey)
		if err != nil {
			return h, fmt.Errorf("the file is authenticated with master key id %s, which the configured master keys do not hold (%v); "+
				"set MASTER_KEY to the keys it was written with", h.MACKey, err)
		}
		sum = hmac.New(sha256.New, key)
	} else {
		sum = sha256.New()
	}
	sum.Write(line)
	var n, nv, ne int64
	for {
		digest := sum.Sum(nil) // of everything before this line
		line, err := lr.next()
		if err != nil {
			if errors.Is(err, ErrSnapshot) {
				return h, err
			}
			return h, fmt.Errorf("%w: it ends after %d secrets, %d versions and %d events without its trailer (cut short?)", ErrSnapshot, n, nv, ne)
		}
		if bytes.HasPrefix(line, []byte(`{"end":`)) {
			var t trailer
			if err := json.Unmarshal(line, &t); err != nil || !t.End {
				return h, fmt.Errorf("%w: a malformed trailer", ErrSnapshot)
			}
			if Authenticated(h.Version) {
				got, err := hex.DecodeString(t.HMAC)
				if err != nil || !hmac.Equal(got, digest) {
					return h, fmt.Errorf("%w: its MAC does not match: the file was altered or damaged (nothing was written)", ErrSnapshot)
				}
			} else if t.SHA256 != hex.EncodeToString(digest) {
				return h, fmt.Errorf("%w: the checksum does not match (altered or damaged)", ErrSnapshot)
			}
			if t.Secrets != n || h.Secrets != n {
				return h, fmt.Errorf("%w: %d secrets, the header says %d and the trailer %d", ErrSnapshot, n, h.Secrets, t.Secrets)
			}
			if t.Versions != nv || h.Versions != nv || t.Events != ne || h.Events != ne {
				return h, fmt.Errorf("%w: %d versions and %d events, the header says %d and %d, the trailer %d and %d",
					ErrSnapshot, nv, ne, h.Versions, h.Events, t.Versions, t.Events)
			}
			if _, err := lr.br.ReadByte(); err != io.EOF {
				return h, fmt.Errorf("%w: data after the trailer", ErrSnapshot)
			}
			return h, nil
		}
		sum.Write(line)
		var rec SnapshotRecord
		if err := json.Unmarshal(line, &rec); err != nil || rec.Owner == "" {
			return h, fmt.Errorf("%w: line %d is not a record", ErrSnapshot, lr.n)
		}
		switch {
		case rec.Kind == KindSecret && rec.Name != "":
			n++
		case rec.Kind == KindVersion && h.Version >= 2 && rec.Name != "" && rec.Version > 0:
			nv++
		case rec.Kind == KindAudit && h.Version >= 2 && rec.Event != nil:
			ne++
		default:
			return h, fmt.Errorf("%w: line %d is not a record", ErrSnapshot, lr.n)
		}
		if err := fn(rec); err != nil {
			return h, err
		}
	}
}

// lineReader reads '\n'-terminated lines of at most max bytes into one
// reused buffer.
type lineReader struct {
	br  *bufio.Reader
	max int
	n   int64 // lines read
	buf []byte
}

// next returns the next line, valid until the following call; a line
// longer than max is an ErrSnapshot naming it, and a last line without
// its '\n' io.ErrUnexpectedEOF.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		frag, err := l.br.ReadSlice('\n')
		if len(l.buf)+len(frag) > l.max {
			return nil, fmt.Errorf("%w: line %d is longer than %d bytes, the most a backup line can be (a value of the server's largest body, sealed, and its envelope)",
				ErrSnapshot, l.n+1, l.max)
		}
		l.buf = append(l.buf, frag...)
		switch {
		case err == nil:
			l.n++
			return l.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(l.buf) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}
