package migrate

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
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
// counts and the SHA-256 of every byte before it:
//
//	{"format":"nosana-secrets-backup","version":2,"created":…,"key_ids":[…],"owners":N,"secrets":M,"versions":V,"events":E}
//	{"owner":…,"name":…,"value":"<base64>","version":1,"created_at":…,"updated_at":…}
//	{"kind":"version","owner":…,"name":…,"value":"<base64>"|null,"version":3,"created_at":…,"deleted":true,"by":…,"job":…}
//	{"kind":"audit","owner":…,"event":{"seq":1,…,"prev_hash":…,"hash":…}}
//	{"end":true,"secrets":M,"versions":V,"events":E,"sha256":"<hex>"}
//
// Version lines are sorted by owner, name and number, audit lines by owner
// and seq, so a restore takes one owner's history at a time. Version 1
// files (secrets only) still read.
const (
	SnapshotFormat  = "nosana-secrets-backup"
	SnapshotVersion = 2
)

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
	KeyIDs   []string `json:"key_ids"`
	Owners   int64    `json:"owners"`
	Secrets  int64    `json:"secrets"`
	Versions int64    `json:"versions,omitempty"`
	Events   int64    `json:"events,omitempty"`
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
	SHA256   string `json:"sha256"`
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

// WriteSnapshot writes everything src visits to w, skipping the owners in
// skip (the server's own records). The records are spooled to temporary
// files first, so the header can say what follows while memory stays
// bounded (versions and events are sorted by a small index); w receives
// the snapshot only once every walk succeeded.
func WriteSnapshot(ctx context.Context, w io.Writer, src SnapshotSource, h SnapshotHeader, skip ...string) (SnapshotHeader, error) {
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

	bw := bufio.NewWriterSize(spool, 1<<20)
	enc := json.NewEncoder(bw)
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
		return enc.Encode(SnapshotRecord{Owner: owner, Name: s.Name, Value: s.Value, Version: s.Version,
			CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()})
	})
	if err == nil {
		err = bw.Flush()
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
	slices.SortFunc(versions, byKey)
	slices.SortFunc(events, byKey)

	h.Format, h.Version, h.Owners = SnapshotFormat, SnapshotVersion, int64(len(owners))
	h.Versions, h.Events = int64(len(versions)), int64(len(events))
	h.KeyIDs = make([]string, 0, len(keys))
	for id := range keys {
		h.KeyIDs = append(h.KeyIDs, id)
	}
	sort.Strings(h.KeyIDs)

	sum := sha256.New()
	bout := bufio.NewWriterSize(w, 1<<20)
	out := io.MultiWriter(bout, sum)
	if err := json.NewEncoder(out).Encode(h); err != nil {
		return h, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return h, err
	}
	if _, err := io.Copy(out, spool); err != nil {
		return h, err
	}
	buf := make([]byte, 0, 64<<10)
	for _, index := range [][]spooled{versions, events} {
		for _, l := range index {
			buf = slices.Grow(buf[:0], l.size)[:l.size]
			if _, err := hist.ReadAt(buf, l.off); err != nil {
				return h, err
			}
			if _, err := out.Write(buf); err != nil {
				return h, err
			}
		}
	}
	t := trailer{End: true, Secrets: h.Secrets, Versions: h.Versions, Events: h.Events, SHA256: hex.EncodeToString(sum.Sum(nil))}
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

// ReadSnapshot reads a snapshot from r, calling fn for each record, and
// checks it whole: header, every line, counts and checksum. An error from
// the end of the file means fn has seen records of a file that is not
// whole: verify with a first pass before acting on the records.
func ReadSnapshot(r io.Reader, fn func(SnapshotRecord) error) (SnapshotHeader, error) {
	var h SnapshotHeader
	br := bufio.NewReaderSize(r, 1<<20)
	sum := sha256.New()
	line, err := readLine(br, sum)
	if err != nil {
		return h, fmt.Errorf("%w: no header: %v", ErrSnapshot, err)
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format != SnapshotFormat {
		return h, fmt.Errorf("%w: the first line is not a backup header", ErrSnapshot)
	}
	if h.Version < 1 || h.Version > SnapshotVersion {
		return h, fmt.Errorf("%w: format version %d, this build reads 1 to %d", ErrSnapshot, h.Version, SnapshotVersion)
	}
	var n, nv, ne int64
	for {
		digest := hex.EncodeToString(sum.Sum(nil)) // of everything before this line
		line, err := readLine(br, sum)
		if err != nil {
			return h, fmt.Errorf("%w: it ends after %d secrets, %d versions and %d events without its trailer (cut short?)", ErrSnapshot, n, nv, ne)
		}
		if bytes.HasPrefix(line, []byte(`{"end":`)) {
			var t trailer
			if err := json.Unmarshal(line, &t); err != nil || !t.End {
				return h, fmt.Errorf("%w: a malformed trailer", ErrSnapshot)
			}
			if t.SHA256 != digest {
				return h, fmt.Errorf("%w: the checksum does not match (altered or damaged)", ErrSnapshot)
			}
			if t.Secrets != n || h.Secrets != n {
				return h, fmt.Errorf("%w: %d secrets, the header says %d and the trailer %d", ErrSnapshot, n, h.Secrets, t.Secrets)
			}
			if t.Versions != nv || h.Versions != nv || t.Events != ne || h.Events != ne {
				return h, fmt.Errorf("%w: %d versions and %d events, the header says %d and %d, the trailer %d and %d",
					ErrSnapshot, nv, ne, h.Versions, h.Events, t.Versions, t.Events)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				return h, fmt.Errorf("%w: data after the trailer", ErrSnapshot)
			}
			return h, nil
		}
		var rec SnapshotRecord
		lineNo := n + nv + ne + 2
		if err := json.Unmarshal(line, &rec); err != nil || rec.Owner == "" {
			return h, fmt.Errorf("%w: line %d is not a record", ErrSnapshot, lineNo)
		}
		switch {
		case rec.Kind == KindSecret && rec.Name != "":
			n++
		case rec.Kind == KindVersion && h.Version >= 2 && rec.Name != "" && rec.Version > 0:
			nv++
		case rec.Kind == KindAudit && h.Version >= 2 && rec.Event != nil:
			ne++
		default:
			return h, fmt.Errorf("%w: line %d is not a record", ErrSnapshot, lineNo)
		}
		if err := fn(rec); err != nil {
			return h, err
		}
	}
}

// readLine reads one '\n'-terminated line, adding it to sum.
func readLine(br *bufio.Reader, sum hash.Hash) ([]byte, error) {
	line, err := br.ReadBytes('\n')
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	sum.Write(line)
	return line, nil
}
