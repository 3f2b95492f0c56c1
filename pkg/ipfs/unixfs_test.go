package ipfs_test

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
)

func TestFileDigestVectors(t *testing.T) {
	files := vectors.Load(t).IPFSFileCIDs.Files
	if len(files) == 0 {
		t.Fatal("vectors.json has no ipfs_file_cids")
	}
	for _, f := range files {
		if got := ipfs.CID(ipfs.FileDigest([]byte(f.Content))); got != f.CID {
			t.Errorf("CID of file %q = %s, want %s", f.Content, got, f.CID)
		}
		if got := ipfs.CID(ipfstest.Digest([]byte(f.Content))); got != f.CID {
			t.Errorf("test gateway's CID of file %q = %s, want %s", f.Content, got, f.CID)
		}
	}
}

// TestFileDigestMatchesImporter compares FileDigest with boxo's importer
// around each edge of the layout: one chunk, several, a full first level of
// 174 chunks, and one more, which adds a level.
func TestFileDigestMatchesImporter(t *testing.T) {
	const chunk = 256 << 10
	sizes := []int{0, 1, 100, chunk - 1, chunk, chunk + 1, 2 * chunk, 4*chunk + 7, 1 << 20}
	if !testing.Short() {
		sizes = append(sizes, 174*chunk, 174*chunk+1, 175*chunk+3)
	}
	data := make([]byte, 175*chunk+3)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], r.Uint64())
	}
	for _, n := range sizes {
		if got, want := ipfs.FileDigest(data[:n]), ipfstest.Digest(data[:n]); got != want {
			t.Errorf("%d bytes: FileDigest gives %s, the importer %s", n, ipfs.CID(got), ipfs.CID(want))
		}
	}
}

func FuzzFileDigest(f *testing.F) {
	f.Add([]byte(`{"state":{"nosana/secrets":["a"]}}`), uint32(0))
	f.Add([]byte("x"), uint32(256<<10))
	f.Fuzz(func(t *testing.T, data []byte, pad uint32) {
		// pad grows data past a chunk edge or two without a huge corpus.
		pad %= 3 << 18
		b := append(data, make([]byte, pad)...)
		if got, want := ipfs.FileDigest(b), ipfstest.Digest(b); got != want {
			t.Fatalf("%d bytes: FileDigest gives %s, the importer %s", len(b), ipfs.CID(got), ipfs.CID(want))
		}
	})
}

func BenchmarkFileDigest(b *testing.B) {
	for _, n := range []int{200, 4 << 10, 1 << 20} {
		data := make([]byte, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				ipfs.FileDigest(data)
			}
		})
	}
}
