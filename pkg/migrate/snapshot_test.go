package migrate_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/migrate"
	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// macKey is the test's MAC key, of id "k1".
var macKey = migrate.MACKey{ID: "k1", Key: bytes.Repeat([]byte{7}, migrate.MACKeySize)}

var reader = migrate.SnapshotReader{MACKey: func(id string) ([]byte, error) {
	if id != macKey.ID {
		return nil, fmt.Errorf("no key %s", id)
	}
	return macKey.Key, nil
}}

func readAll(t *testing.T, file []byte) (migrate.SnapshotHeader, []migrate.SnapshotRecord, error) {
	t.Helper()
	return readWith(t, reader, file)
}

func readWith(t *testing.T, rd migrate.SnapshotReader, file []byte) (migrate.SnapshotHeader, []migrate.SnapshotRecord, error) {
	t.Helper()
	var recs []migrate.SnapshotRecord
	h, err := rd.Read(bytes.NewReader(file), func(r migrate.SnapshotRecord) error {
		recs = append(recs, r)
		return nil
	})
	return h, recs, err
}

// TestSnapshotCarriesHistory: versions and events, walked in any order,
// come back sorted by owner, name and number, counted in header and
// trailer and covered by the checksum; the server's own owner is left out.
func TestSnapshotCarriesHistory(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var head audit.Head
	var log []audit.Event
	for i := range 3 {
		var e audit.Event
		e, head = audit.Link(head, audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Action: audit.Write, Actor: "a"})
		log = append(log, e)
	}
	src := migrate.SnapshotSource{
		Secrets: func(ctx context.Context, fn func(string, storage.Secret) error) error {
			return fn("alice", storage.Secret{Name: "k", Value: []byte{1, 0xaa, 0xbb, 0xcc, 0xdd, 9}, Version: 2, CreatedAt: t0, UpdatedAt: t0})
		},
		Versions: func(ctx context.Context, fn func(string, storage.Version) error) error {
			for _, v := range []struct {
				owner string
				v     storage.Version
			}{
				{"bob", storage.Version{Name: "a", Version: 1, Value: []byte("x"), CreatedAt: t0}},
				{"alice", storage.Version{Name: "k", Version: 2, Value: []byte{1, 0xaa, 0xbb, 0xcc, 0xdd, 9}, CreatedAt: t0, By: storage.Writer{Address: "a", Job: "j"}}},
				{"_nosana", storage.Version{Name: "key-check", Version: 1, Value: []byte("c"), CreatedAt: t0}},
				{"alice", storage.Version{Name: "k", Version: 1, Deleted: true, Value: []byte("ignored"), CreatedAt: t0}},
			} {
				if err := fn(v.owner, v.v); err != nil {
					return err
				}
			}
			return nil
		},
		Audit: func(ctx context.Context, owners []string, fn func(string, audit.Event) error) error {
			if strings.Join(owners, ",") != "alice,bob" {
				return fmt.Errorf("owners seen %v", owners)
			}
			for _, i := range []int{2, 0, 1} {
				if err := fn("alice", log[i]); err != nil {
					return err
				}
			}
			return nil
		},
	}
	var buf bytes.Buffer
	h, err := migrate.WriteSnapshot(context.Background(), &buf, src, migrate.SnapshotHeader{Created: t0}, macKey, "_nosana")
	if err != nil {
		t.Fatal(err)
	}
	if h.Secrets != 1 || h.Versions != 3 || h.Events != 3 || h.Owners != 2 || strings.Join(h.KeyIDs, ",") != "aabbccdd" {
		t.Errorf("header %+v", h)
	}
	got, recs, err := readAll(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != migrate.SnapshotVersion || got.Versions != 3 || got.Events != 3 {
		t.Errorf("header read back %+v", got)
	}
	var order []string
	for _, r := range recs {
		switch r.Kind {
		case migrate.KindVersion:
			order = append(order, fmt.Sprintf("%s/%s/%d/%v/%q/%s/%s", r.Owner, r.Name, r.Version, r.Deleted, r.Value, r.By, r.Job))
		case migrate.KindAudit:
			order = append(order, fmt.Sprintf("%s/audit/%d", r.Owner, r.Event.Seq))
		default:
			order = append(order, r.Owner+"/"+r.Name)
		}
	}
	want := `alice/k alice/k/1/true/""// alice/k/2/false/"\x01\xaa\xbb\xcc\xdd\t"/a/j bob/a/1/false/"x"// alice/audit/1 alice/audit/2 alice/audit/3`
	if strings.Join(order, " ") != want {
		t.Errorf("records\n%s\nwant\n%s", strings.Join(order, " "), want)
	}
	var events []audit.Event
	for _, r := range recs {
		if r.Kind == migrate.KindAudit {
			events = append(events, *r.Event)
		}
	}
	if h, err := audit.Verify(events); err != nil || h != head {
		t.Errorf("events read back verify to %+v, %v; want %+v", h, err, head)
	}

	// One byte of a version line changed: the MAC says so.
	bad := bytes.Replace(buf.Bytes(), []byte(`"name":"a"`), []byte(`"name":"b"`), 1)
	if _, _, err := readAll(t, bad); !errors.Is(err, migrate.ErrSnapshot) || !strings.Contains(err.Error(), "MAC does not match") {
		t.Errorf("an altered version line: %v", err)
	}
}

// TestSnapshotMAC: a file of version 3 reads only with the key its header
// names, and an edit with the trailer recomputed without that key (a bare
// SHA-256, as version 2 had, or an HMAC under another key) is refused.
func TestSnapshotMAC(t *testing.T) {
	src := migrate.SnapshotSource{Secrets: func(ctx context.Context, fn func(string, storage.Secret) error) error {
		return fn("alice", storage.Secret{Name: "k", Value: []byte("v1"), Version: 1})
	}}
	var buf bytes.Buffer
	if _, err := migrate.WriteSnapshot(context.Background(), &buf, src, migrate.SnapshotHeader{}, macKey); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	if !strings.Contains(good, `"version":3`) || !strings.Contains(good, `"mac_key":"k1"`) || !strings.Contains(good, `"hmac_sha256":"`) || strings.Contains(good, `"sha256"`) {
		t.Fatalf("a version 3 file:\n%s", good)
	}
	if _, recs, err := readAll(t, buf.Bytes()); err != nil || len(recs) != 1 {
		t.Fatalf("read: %v", err)
	}
	if _, err := migrate.ReadSnapshot(bytes.NewReader(buf.Bytes()), func(migrate.SnapshotRecord) error { return nil }); !errors.Is(err, migrate.ErrSnapshot) {
		t.Errorf("read without a key: %v", err)
	}
	lines := strings.SplitAfter(good, "\n")
	body := strings.Join(lines[:len(lines)-2], "")
	edited := strings.Replace(body, `"value":"djE="`, `"value":"djI="`, 1)
	if edited == body {
		t.Fatal("no value to edit")
	}
	other := hmac.New(sha256.New, bytes.Repeat([]byte{8}, migrate.MACKeySize))
	other.Write([]byte(edited))
	for name, trailer := range map[string]string{
		"sha256":        fmt.Sprintf(`{"end":true,"secrets":1,"sha256":"%x"}`, sha256.Sum256([]byte(edited))),
		"sha256 as mac": fmt.Sprintf(`{"end":true,"secrets":1,"hmac_sha256":"%x"}`, sha256.Sum256([]byte(edited))),
		"other key":     fmt.Sprintf(`{"end":true,"secrets":1,"hmac_sha256":"%x"}`, other.Sum(nil)),
	} {
		if _, _, err := readAll(t, []byte(edited+trailer+"\n")); !errors.Is(err, migrate.ErrSnapshot) || !strings.Contains(err.Error(), "MAC does not match") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The header's key id changed: a key the reader does not hold.
	if _, _, err := readAll(t, []byte(strings.Replace(good, `"mac_key":"k1"`, `"mac_key":"k2"`, 1))); err == nil || !strings.Contains(err.Error(), "master key id k2") {
		t.Errorf("another key id: %v", err)
	}
}

// TestSnapshotLongLine: a line longer than the reader's bound is an error
// naming it, and the reader stops there rather than buffer it.
func TestSnapshotLongLine(t *testing.T) {
	long := `{"owner":"alice","name":"k","value":"` + strings.Repeat("A", 4000) + `"}` + "\n"
	file := `{"format":"nosana-secrets-backup","version":1,"created":"2026-01-02T03:04:05Z","key_ids":[],"owners":1,"secrets":2}` + "\n" +
		`{"owner":"alice","name":"j","value":"AQID"}` + "\n" + long
	r := &countingReader{r: strings.NewReader(file + strings.Repeat("x", 1<<20))}
	rd := migrate.SnapshotReader{MaxLine: 1000}
	_, err := rd.Read(r, func(migrate.SnapshotRecord) error { return nil })
	if !errors.Is(err, migrate.ErrSnapshot) || !strings.Contains(err.Error(), "line 3 is longer than 1000 bytes") {
		t.Errorf("a long line: %v", err)
	}
	if r.n > 256<<10 {
		t.Errorf("read %d bytes of a file whose third line is too long", r.n)
	}
	if n := migrate.MaxLine(migrate.DefaultBodyLimit); n < 4*(1<<20)/3 || n > 3<<20 {
		t.Errorf("MaxLine of the default body limit: %d", n)
	}
}

type countingReader struct {
	r *strings.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestSnapshotVersion1StillReads: a file of format version 1 (secrets
// only) reads; version lines are refused in it.
func TestSnapshotVersion1StillReads(t *testing.T) {
	v1 := func(lines ...string) []byte {
		body := `{"format":"nosana-secrets-backup","version":1,"created":"2026-01-02T03:04:05Z","key_ids":[],"owners":1,"secrets":1}` + "\n" +
			strings.Join(lines, "\n") + "\n"
		return []byte(body + fmt.Sprintf(`{"end":true,"secrets":1,"sha256":"%x"}`+"\n", sha256.Sum256([]byte(body))))
	}
	h, recs, err := readAll(t, v1(`{"owner":"alice","name":"k","value":"AQID","version":3,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`))
	if err != nil || h.Version != 1 || len(recs) != 1 || recs[0].Name != "k" || string(recs[0].Value) != "\x01\x02\x03" || recs[0].Version != 3 {
		t.Fatalf("version 1 file: %+v %+v %v", h, recs, err)
	}
	_, _, err = readAll(t, v1(`{"owner":"alice","name":"k","value":"AQID","version":3,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`,
		`{"kind":"version","owner":"alice","name":"k","value":"AQID","version":1,"created_at":"2026-01-02T03:04:05Z"}`))
	if !errors.Is(err, migrate.ErrSnapshot) {
		t.Errorf("a version line in a version 1 file: %v", err)
	}
}
