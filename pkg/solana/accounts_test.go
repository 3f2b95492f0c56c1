package solana_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/vectors"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
)

func TestDiscriminatorVectors(t *testing.T) {
	v := vectors.Load(t)
	for name, got := range map[string][8]byte{
		"JobAccount": solana.JobDiscriminator,
		"RunAccount": solana.RunDiscriminator,
	} {
		want, ok := v.Discriminators[name]
		if !ok {
			t.Fatalf("vectors.json has no %s discriminator", name)
		}
		if h := hex.EncodeToString(got[:]); h != want.Hex {
			t.Errorf("%s discriminator = %s, vectors say %s", name, h, want.Hex)
		}
		if b := base58.Encode(got[:]); b != want.Base58 {
			t.Errorf("%s discriminator base58 = %s, vectors say %s", name, b, want.Base58)
		}
		// Anchor derives it from the account name.
		sum := sha256.Sum256([]byte("account:" + name))
		if !bytes.Equal(sum[:8], got[:]) {
			t.Errorf("%s discriminator is not sha256(\"account:%s\")[:8]", name, name)
		}
	}
}

func pk(b byte) solana.PublicKey {
	var k solana.PublicKey
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func sampleJob(withTimeout bool) solana.Job {
	j := solana.Job{
		Market:    pk(0x30),
		Node:      pk(0x40),
		Payer:     pk(0x50),
		Price:     0x0102030405060708,
		Project:   pk(0x60),
		State:     solana.JobDone,
		TimeEnd:   1700000100,
		TimeStart: -5,
	}
	for i := range j.IPFSJob {
		j.IPFSJob[i] = byte(i)
		j.IPFSResult[i] = byte(0xff - i)
	}
	if withTimeout {
		j.Timeout, j.HasTimeout = 3600, true
	}
	return j
}

// handJob lays a job out by the offsets of SPEC §2, independently of EncodeJob.
func handJob(j solana.Job, size int) []byte {
	b := make([]byte, size)
	copy(b, []byte{0x5b, 0x10, 0xa2, 0x05, 0x2d, 0xd2, 0x7d, 0x41})
	copy(b[8:], j.IPFSJob[:])
	copy(b[40:], j.IPFSResult[:])
	copy(b[72:], j.Market[:])
	copy(b[104:], j.Node[:])
	copy(b[136:], j.Payer[:])
	binary.LittleEndian.PutUint64(b[168:], j.Price)
	copy(b[176:], j.Project[:])
	b[208] = j.State
	binary.LittleEndian.PutUint64(b[209:], uint64(j.TimeEnd))
	binary.LittleEndian.PutUint64(b[217:], uint64(j.TimeStart))
	if size >= 233 {
		binary.LittleEndian.PutUint64(b[225:], uint64(j.Timeout))
	}
	return b
}

func TestDecodeJobLayouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		want solana.Job
	}{
		{"legacy 225 bytes", 225, sampleJob(false)},
		{"with timeout 233 bytes", 233, sampleJob(true)},
		{"legacy plus 4 trailing bytes", 229, sampleJob(false)},
		{"with timeout plus trailing bytes", 300, sampleJob(true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := handJob(tc.want, tc.size)
			got, err := solana.DecodeJob(data)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("DecodeJob =\n%+v\nwant\n%+v", got, tc.want)
			}
			if enc := solana.EncodeJob(got); !bytes.Equal(enc, data[:len(enc)]) {
				t.Errorf("EncodeJob does not reproduce the on-chain bytes")
			}
		})
	}
}

func TestDecodeJobRejects(t *testing.T) {
	good := solana.EncodeJob(sampleJob(true))
	run := solana.EncodeRun(solana.Run{Job: pk(1), Node: pk(2)})
	market := append([]byte{0xc9, 0x4e, 0xbb, 0xe1, 0xf0, 0xc6, 0xc9, 0xfb}, good[8:]...)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"discriminator only", good[:8]},
		{"224 bytes", good[:224]},
		{"run account", append(run, make([]byte, 200)...)},
		{"market discriminator", market},
		{"zero discriminator", append(make([]byte, 8), good[8:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := solana.DecodeJob(tc.data)
			if !errors.Is(err, solana.ErrInvalidAccount) {
				t.Fatalf("DecodeJob error = %v, want ErrInvalidAccount", err)
			}
		})
	}
}

func TestDecodeRun(t *testing.T) {
	want := solana.Run{Job: pk(1), Node: pk(2), Payer: pk(3), State: 7, Time: 1700000000}
	b := make([]byte, 113)
	copy(b, []byte{0xc2, 0xa9, 0x6e, 0xe6, 0xeb, 0x0b, 0xe1, 0x16})
	copy(b[8:], want.Job[:])
	copy(b[40:], want.Node[:])
	copy(b[72:], want.Payer[:])
	b[104] = want.State
	binary.LittleEndian.PutUint64(b[105:], uint64(want.Time))

	for _, data := range [][]byte{b, append(bytes.Clone(b), 1, 2, 3)} {
		got, err := solana.DecodeRun(data)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("DecodeRun = %+v, want %+v", got, want)
		}
	}
	if enc := solana.EncodeRun(want); !bytes.Equal(enc, b) {
		t.Errorf("EncodeRun does not reproduce the on-chain bytes")
	}

	job := solana.EncodeJob(sampleJob(false))
	for name, data := range map[string][]byte{
		"short":       b[:112],
		"empty":       nil,
		"job account": job,
	} {
		if _, err := solana.DecodeRun(data); !errors.Is(err, solana.ErrInvalidAccount) {
			t.Errorf("%s: DecodeRun error = %v, want ErrInvalidAccount", name, err)
		}
	}
}

func TestJobFinished(t *testing.T) {
	for state, want := range map[uint8]bool{0: false, 1: false, 2: true, 3: true, 255: true} {
		if got := (solana.Job{State: state}).Finished(); got != want {
			t.Errorf("state %d: Finished = %v, want %v", state, got, want)
		}
	}
}

func FuzzDecodeJob(f *testing.F) {
	f.Add(solana.EncodeJob(sampleJob(false)))
	f.Add(solana.EncodeJob(sampleJob(true)))
	f.Add(append(solana.EncodeJob(sampleJob(true)), 9, 9, 9))
	f.Add(solana.EncodeJob(sampleJob(true))[:230])
	f.Add(solana.EncodeRun(solana.Run{}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := solana.DecodeJob(data)
		if err != nil {
			if !errors.Is(err, solana.ErrInvalidAccount) {
				t.Fatalf("error %v does not wrap ErrInvalidAccount", err)
			}
			return
		}
		if len(data) < solana.JobSizeLegacy || !bytes.Equal(data[:8], solana.JobDiscriminator[:]) {
			t.Fatalf("accepted %d bytes starting %x", len(data), data[:min(8, len(data))])
		}
		if j.HasTimeout != (len(data) >= solana.JobSize) {
			t.Fatalf("HasTimeout = %v for %d bytes", j.HasTimeout, len(data))
		}
		enc := solana.EncodeJob(j)
		if !bytes.Equal(enc, data[:len(enc)]) {
			t.Fatalf("round trip changed the bytes")
		}
	})
}

func FuzzDecodeRun(f *testing.F) {
	f.Add(solana.EncodeRun(solana.Run{Job: pk(1), Node: pk(2), Payer: pk(3), State: 1, Time: 42}))
	f.Add(append(solana.EncodeRun(solana.Run{}), 1))
	f.Add(solana.EncodeJob(sampleJob(true)))
	f.Add([]byte{0xc2, 0xa9, 0x6e, 0xe6, 0xeb, 0x0b, 0xe1, 0x16})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := solana.DecodeRun(data)
		if err != nil {
			if !errors.Is(err, solana.ErrInvalidAccount) {
				t.Fatalf("error %v does not wrap ErrInvalidAccount", err)
			}
			return
		}
		if len(data) < solana.RunSize || !bytes.Equal(data[:8], solana.RunDiscriminator[:]) {
			t.Fatalf("accepted %d bytes starting %x", len(data), data[:min(8, len(data))])
		}
		if enc := solana.EncodeRun(r); !bytes.Equal(enc, data[:solana.RunSize]) {
			t.Fatalf("round trip changed the bytes")
		}
	})
}
