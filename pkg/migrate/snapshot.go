package migrate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// A snapshot (backup file) is JSON lines: a header, one line per secret
// with its value as stored (sealed, base64), and a trailer with the count
// and the SHA-256 of every byte before it:
//
//	{"format":"nosana-secrets-backup","version":1,"created":…,"key_ids":[…],"owners":N,"secrets":M}
//	{"owner":…,"name":…,"value":"<base64>","version":1,"created_at":…,"updated_at":…}
//	{"end":true,"secrets":M,"sha256":"<hex>"}
const (
	SnapshotFormat  = "nosana-secrets-backup"
	SnapshotVersion = 1
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
	KeyIDs  []string `json:"key_ids"`
	Owners  int64    `json:"owners"`
	Secrets int64    `json:"secrets"`
}

// SnapshotRecord is one secret of a snapshot, its value sealed.
type SnapshotRecord struct {
	Owner     string    `json:"owner"`
	Name      string    `json:"name"`
	Value     []byte    `json:"value"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type trailer struct {
	End     bool   `json:"end"`
	Secrets int64  `json:"secrets"`
	SHA256  string `json:"sha256"`
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

// WriteSnapshot writes every secret walk visits to w, skipping the owners
// in skip (the server's own records). The records are spooled to a
// temporary file first, so the header can say what follows while memory
// stays bounded; w receives the snapshot only once the walk succeeded.
func WriteSnapshot(ctx context.Context, w io.Writer, walk WalkFunc, h SnapshotHeader, skip ...string) (SnapshotHeader, error) {
	spool, err := os.CreateTemp("", "nosana-secrets-backup-*")
	if err != nil {
		return h, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	bw := bufio.NewWriterSize(spool, 1<<20)
	enc := json.NewEncoder(bw)
	owners := map[string]struct{}{}
	keys := map[string]struct{}{}
	err = walk(ctx, func(owner string, s storage.Secret) error {
		for _, o := range skip {
			if owner == o {
				return nil
			}
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
	h.Format, h.Version, h.Owners = SnapshotFormat, SnapshotVersion, int64(len(owners))
	h.KeyIDs = make([]string, 0, len(keys))
	for id := range keys {
		h.KeyIDs = append(h.KeyIDs, id)
	}
	sort.Strings(h.KeyIDs)

	sum := sha256.New()
	out := io.MultiWriter(w, sum)
	if err := json.NewEncoder(out).Encode(h); err != nil {
		return h, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return h, err
	}
	if _, err := io.Copy(out, spool); err != nil {
		return h, err
	}
	return h, json.NewEncoder(w).Encode(trailer{End: true, Secrets: h.Secrets, SHA256: hex.EncodeToString(sum.Sum(nil))})
}

// ReadSnapshot reads a snapshot from r, calling fn for each record, and
// checks it whole: header, every line, count and checksum. An error from
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
	if h.Version != SnapshotVersion {
		return h, fmt.Errorf("%w: format version %d, this build reads %d", ErrSnapshot, h.Version, SnapshotVersion)
	}
	var n int64
	for {
		digest := hex.EncodeToString(sum.Sum(nil)) // of everything before this line
		line, err := readLine(br, sum)
		if err != nil {
			return h, fmt.Errorf("%w: it ends after %d secrets without its trailer (cut short?)", ErrSnapshot, n)
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
			if _, err := br.ReadByte(); err != io.EOF {
				return h, fmt.Errorf("%w: data after the trailer", ErrSnapshot)
			}
			return h, nil
		}
		var rec SnapshotRecord
		if err := json.Unmarshal(line, &rec); err != nil || rec.Owner == "" || rec.Name == "" {
			return h, fmt.Errorf("%w: line %d is not a secret", ErrSnapshot, n+2)
		}
		n++
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
