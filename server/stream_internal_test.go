package server

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/storage"
)

// A streamed listing's later pages hold about listPageBytes, within
// [listPageMin, listPageMax] secrets.
func TestNextLimit(t *testing.T) {
	page := func(n, size int) []storage.Secret {
		p := make([]storage.Secret, n)
		for i := range p {
			p[i] = storage.Secret{Name: fmt.Sprintf("k%05d", i), Value: bytes.Repeat([]byte("v"), size-6)}
		}
		return p
	}
	for _, tc := range []struct {
		page []storage.Secret
		want int
	}{
		{nil, listPageSize},
		{page(256, 128), listPageMax},               // 256 KiB / 128 B = 2,048
		{page(256, 1024), 256},                      // 256 KiB / 1 KiB
		{page(256, 4096), 64},                       // TestListingMemory's values
		{page(10, 1<<20), listPageMin},              // 1 MiB values
		{page(3, 6), listPageMax},                   // names only
		{append(page(1, 4096), page(1, 6)...), 127}, // the mean, not the last
	} {
		if got := nextLimit(tc.page); got != tc.want {
			t.Errorf("nextLimit(%d secrets) = %d, want %d", len(tc.page), got, tc.want)
		}
	}
}
