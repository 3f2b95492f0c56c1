package memstore_test

import (
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage/memstore"
	"github.com/nosana-ci/nosana-secrets/pkg/storage/storagetest"
)

func TestQuota(t *testing.T) { storagetest.RunQuota(t, memstore.New()) }
