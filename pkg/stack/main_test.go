package stack_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

// TestMain names the backends whose tests were skipped.
func TestMain(m *testing.M) { storagetest.Main(m) }
