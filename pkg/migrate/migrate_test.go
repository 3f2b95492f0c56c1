package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

type fakeSource []string // key, stored, key, stored, …

func (f fakeSource) Count(context.Context) (int64, error) { return int64(len(f) / 2), nil }
func (f fakeSource) Close() error                         { return nil }
func (f fakeSource) Each(_ context.Context, fn func(string, []byte) error) error {
	for i := 0; i < len(f); i += 2 {
		if err := fn(f[i], []byte(f[i+1])); err != nil {
			return err
		}
	}
	return nil
}

// fakeTarget records every Put; it is not a database (those are tested
// end to end), only Run's bookkeeping is checked here.
type fakeTarget struct {
	have map[string]string // owner\x00name → value
	puts []string          // owner:count per Put
	fail bool
}

func (t *fakeTarget) Existing(_ context.Context, owner string, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, n := range names {
		if _, ok := t.have[owner+"\x00"+n]; ok {
			out[n] = true
		}
	}
	return out, nil
}

func (t *fakeTarget) Put(_ context.Context, owner string, items []storage.Item) error {
	if t.fail {
		return errors.New("down")
	}
	for _, it := range items {
		t.have[owner+"\x00"+it.Name] = string(it.Value)
	}
	t.puts = append(t.puts, fmt.Sprintf("%s:%d", owner[:2], len(items)))
	return nil
}

const (
	ownerA = "8GgqkNapEcUdHXyxmWSgj359xxWUxkrJU6HveTRYrkPn"
	ownerB = "5EPND8dQ8QTG23rKPL2RcYBLwjdAFEJSCagWemFjaoCn"
)

func env(v string) string { return `{"value":` + v + `,"expires":null}` }

func TestRunBatchesByOwnerAndCounts(t *testing.T) {
	// Unordered, as Redis SCAN returns them.
	src := fakeSource{
		ownerA + ":a1", env(`1`),
		ownerB + ":b1", env(`"::x"`),
		ownerA + ":a2", env(`{"::k":2}`),
		ownerA + ":", env(`3`),
		"nobody:x", env(`4`),
		ownerB + ":bad", `{"value":nope}`,
		ownerB + ":old", `{"value":1,"expires":1}`,
		ownerA + ":a3", env(`5`),
	}
	dst := &fakeTarget{have: map[string]string{ownerA + "\x00a3": "kept"}}
	var progress int
	sum, err := Run(context.Background(), src, dst, Options{BatchRecords: 100, Progress: func(Summary) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 8 || sum.Imported != 3 || sum.Existing != 1 || sum.Expired != 1 || sum.Refused != 3 || sum.Owners != 2 {
		t.Errorf("summary %+v", sum)
	}
	// One Put per owner in the batch, however the records came.
	if !slices.Equal(dst.puts, []string{"8G:2", "5E:1"}) || progress != 1 {
		t.Errorf("puts %v, progress calls %d", dst.puts, progress)
	}
	if dst.have[ownerA+"\x00a2"] != `{":k":2}` || dst.have[ownerB+"\x00b1"] != `":x"` || dst.have[ownerA+"\x00a3"] != "kept" {
		t.Errorf("stored %v", dst.have)
	}
	for _, r := range sum.Refusals {
		if strings.Contains(r.Reason, "nope") {
			t.Errorf("refusal shows the value: %+v", r)
		}
	}

	// Again: nothing to do. With --overwrite: everything rewritten.
	dst.puts = nil
	sum, _ = Run(context.Background(), src, dst, Options{})
	if sum.Imported != 0 || sum.Existing != 4 || dst.puts != nil {
		t.Errorf("re-run: %+v, puts %v", sum, dst.puts)
	}
	sum, _ = Run(context.Background(), src, dst, Options{Overwrite: true})
	if sum.Imported != 4 || dst.have[ownerA+"\x00a3"] != "5" {
		t.Errorf("overwrite: %+v", sum)
	}
}

func TestRunDryRunWritesNothing(t *testing.T) {
	dst := &fakeTarget{have: map[string]string{}, fail: true}
	sum, err := Run(context.Background(), fakeSource{ownerA + ":a", env(`1`)}, dst, Options{DryRun: true})
	if err != nil || sum.Imported != 1 || !sum.DryRun || len(dst.have) != 0 {
		t.Errorf("%+v %v %v", sum, err, dst.have)
	}
}

func TestRunSmallBatches(t *testing.T) {
	var src fakeSource
	for i := range 25 {
		src = append(src, fmt.Sprintf("%s:k%02d", ownerA, i), env(`1`))
	}
	dst := &fakeTarget{have: map[string]string{}}
	sum, err := Run(context.Background(), src, dst, Options{BatchRecords: 10})
	if err != nil || sum.Imported != 25 || !slices.Equal(dst.puts, []string{"8G:10", "8G:10", "8G:5"}) {
		t.Errorf("%+v %v %v", sum, err, dst.puts)
	}
	dst = &fakeTarget{have: map[string]string{}, fail: true}
	if _, err := Run(context.Background(), src, dst, Options{}); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("a failed write: %v", err)
	}
}

func TestOpenHonoursURIOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ uri, want string }{
		{"mongodb://127.0.0.1:1/db?tls=true&tlsCAFile=/nonexistent/ca.pem", "ca.pem"},
		{"ftp://x", "scheme"},
		{"postgres://user:s3cr3t@127.0.0.1:1/db?connect_timeout=1", "xxxxx"},
		{"sqlite:///nonexistent/orig.sqlite", "no such file"},
	} {
		_, err := Open(ctx, tc.uri)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Open(%s): %v, want an error with %q and no password", tc.uri, err, tc.want)
		}
	}
}
