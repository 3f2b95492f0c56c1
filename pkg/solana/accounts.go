// Package solana reads Nosana job and run accounts from a Solana JSON-RPC
// node and decodes them.
//
// The decoders work by byte offset on the Anchor account layouts of the
// Nosana jobs program (SPEC.md §2). The RPC client checks that every account
// it returns is owned by the configured jobs program and carries the expected
// discriminator: an account that fails either check is someone else's data
// and must never be trusted.
package solana

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Anchor account discriminators: the first 8 bytes of every account the jobs
// program writes (sha256("account:<Name>")[:8]).
var (
	JobDiscriminator = [8]byte{0x5b, 0x10, 0xa2, 0x05, 0x2d, 0xd2, 0x7d, 0x41}
	RunDiscriminator = [8]byte{0xc2, 0xa9, 0x6e, 0xe6, 0xeb, 0x0b, 0xe1, 0x16}
)

// Account sizes, discriminator included.
const (
	// JobSizeLegacy is a JobAccount of programs without a timeout field.
	JobSizeLegacy = 225
	// JobSize is a JobAccount with the timeout field at offset 225.
	JobSize = 233
	// RunSize is a RunAccount.
	RunSize = 113
)

// Job states as stored on chain. A queued job with a run account is running.
const (
	JobQueued  uint8 = 0
	JobRunning uint8 = 1 // used by older programs only
	JobDone    uint8 = 2
	JobStopped uint8 = 3
)

// StateName names an ended job's state in messages: "done", "stopped",
// else "state N".
func StateName(s uint8) string {
	switch s {
	case JobDone:
		return "done"
	case JobStopped:
		return "stopped"
	}
	return fmt.Sprintf("state %d", s)
}

// Job is a decoded JobAccount.
type Job struct {
	IPFSJob    [32]byte // sha256 digest of the job JSON (see ipfs.CID)
	IPFSResult [32]byte // sha256 digest of the result JSON; zero until finished
	Market     PublicKey
	Node       PublicKey
	Payer      PublicKey
	Price      uint64
	Project    PublicKey
	State      uint8
	TimeEnd    int64
	TimeStart  int64 // written when the job ends (older programs: when claimed)
	Timeout    int64 // seconds; 0 unless HasTimeout
	HasTimeout bool  // the account is long enough to carry Timeout
}

// Finished reports whether the job is done or stopped (state ≥ 2).
func (j Job) Finished() bool { return j.State >= JobDone }

// Run is a decoded RunAccount: the claim of a node on a job.
type Run struct {
	Job   PublicKey
	Node  PublicKey
	Payer PublicKey
	State uint8
	Time  int64 // unix seconds at which the node claimed the job
}

// Job account offsets.
const (
	offIPFSJob    = 8
	offIPFSResult = 40
	offMarket     = 72
	offNode       = 104
	offPayer      = 136
	offPrice      = 168
	offProject    = 176
	offState      = 208
	offTimeEnd    = 209
	offTimeStart  = 217
	offTimeout    = 225
)

// Run account offsets.
const (
	offRunJob   = 8
	offRunNode  = 40
	offRunPayer = 72
	offRunState = 104
	offRunTime  = 105
)

// DecodeJob decodes a JobAccount. It accepts the legacy 225-byte layout and
// the 233-byte layout with a timeout, ignores trailing bytes, and fails with
// an error wrapping ErrInvalidAccount on short data or a wrong discriminator.
func DecodeJob(data []byte) (Job, error) {
	if err := checkAccount(data, JobDiscriminator, JobSizeLegacy, "JobAccount"); err != nil {
		return Job{}, err
	}
	j := Job{
		Market:    key(data, offMarket),
		Node:      key(data, offNode),
		Payer:     key(data, offPayer),
		Price:     binary.LittleEndian.Uint64(data[offPrice:]),
		Project:   key(data, offProject),
		State:     data[offState],
		TimeEnd:   int64(binary.LittleEndian.Uint64(data[offTimeEnd:])),
		TimeStart: int64(binary.LittleEndian.Uint64(data[offTimeStart:])),
	}
	copy(j.IPFSJob[:], data[offIPFSJob:])
	copy(j.IPFSResult[:], data[offIPFSResult:])
	if len(data) >= JobSize {
		j.Timeout = int64(binary.LittleEndian.Uint64(data[offTimeout:]))
		j.HasTimeout = true
	}
	return j, nil
}

// DecodeRun decodes a RunAccount (at least 113 bytes, trailing bytes
// ignored); errors wrap ErrInvalidAccount.
func DecodeRun(data []byte) (Run, error) {
	if err := checkAccount(data, RunDiscriminator, RunSize, "RunAccount"); err != nil {
		return Run{}, err
	}
	return Run{
		Job:   key(data, offRunJob),
		Node:  key(data, offRunNode),
		Payer: key(data, offRunPayer),
		State: data[offRunState],
		Time:  int64(binary.LittleEndian.Uint64(data[offRunTime:])),
	}, nil
}

// EncodeJob is the inverse of DecodeJob: the 233-byte layout when
// j.HasTimeout is set, else the legacy 225-byte one.
func EncodeJob(j Job) []byte {
	n := JobSizeLegacy
	if j.HasTimeout {
		n = JobSize
	}
	b := make([]byte, n)
	copy(b, JobDiscriminator[:])
	copy(b[offIPFSJob:], j.IPFSJob[:])
	copy(b[offIPFSResult:], j.IPFSResult[:])
	copy(b[offMarket:], j.Market[:])
	copy(b[offNode:], j.Node[:])
	copy(b[offPayer:], j.Payer[:])
	binary.LittleEndian.PutUint64(b[offPrice:], j.Price)
	copy(b[offProject:], j.Project[:])
	b[offState] = j.State
	binary.LittleEndian.PutUint64(b[offTimeEnd:], uint64(j.TimeEnd))
	binary.LittleEndian.PutUint64(b[offTimeStart:], uint64(j.TimeStart))
	if j.HasTimeout {
		binary.LittleEndian.PutUint64(b[offTimeout:], uint64(j.Timeout))
	}
	return b
}

// EncodeRun is the inverse of DecodeRun.
func EncodeRun(r Run) []byte {
	b := make([]byte, RunSize)
	copy(b, RunDiscriminator[:])
	copy(b[offRunJob:], r.Job[:])
	copy(b[offRunNode:], r.Node[:])
	copy(b[offRunPayer:], r.Payer[:])
	b[offRunState] = r.State
	binary.LittleEndian.PutUint64(b[offRunTime:], uint64(r.Time))
	return b
}

// checkAccount checks the discriminator first, so that another kind of
// account is named as such rather than as too short.
func checkAccount(data []byte, disc [8]byte, min int, name string) error {
	if len(data) >= len(disc) && !bytes.Equal(data[:len(disc)], disc[:]) {
		return fmt.Errorf("%w: not a %s (discriminator %s, want %s)",
			ErrInvalidAccount, name, hex.EncodeToString(data[:len(disc)]), hex.EncodeToString(disc[:]))
	}
	if len(data) < min {
		return fmt.Errorf("%w: %s data is %d bytes, want at least %d", ErrInvalidAccount, name, len(data), min)
	}
	return nil
}

func key(data []byte, off int) PublicKey {
	var k PublicKey
	copy(k[:], data[off:off+32])
	return k
}
