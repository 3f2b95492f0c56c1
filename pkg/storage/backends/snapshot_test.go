package backends_test

import (
	"context"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/seal"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/backends"
)

// TestSnapshotFindsTheBackend: backups read an sqlite store through its
// lock, cache and check layers in one transaction, not page by page.
func TestSnapshotFindsTheBackend(t *testing.T) {
	keys, _ := seal.ParseKeys(seal.NewKey())
	name := func(f any) string { return runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name() }
	for uri, want := range map[string]string{
		"sqlite://" + filepath.Join(t.TempDir(), "s.sqlite"): "Snapshot-fm",
		"memory://": ".Walk-fm",
	} {
		st, err := backends.Open(context.Background(), uri, backends.Options{MasterKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		if got := name(backends.Snapshot(st.Lower())); !strings.Contains(got, want) {
			t.Errorf("%s: %s, want %s", uri, got, want)
		}
		st.Close()
	}
}
