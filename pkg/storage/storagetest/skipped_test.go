package storagetest_test

import (
	"bytes"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// A backend whose variable is unset is named once, however many tests skip.
func TestSkippedBackendsAreNamed(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("NOSANA_TEST_NOWHERE", "")
	for i := 0; i < 2; i++ {
		t.Run("skips", func(t *testing.T) { storagetest.URI(t, "nowhere") })
	}
	var b bytes.Buffer
	storagetest.WriteSkipped(&b, "pkg/x")
	want := "skipped the nowhere tests in pkg/x: NOSANA_TEST_NOWHERE is not set (see README, Development)\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
