package audit_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

// FuzzCanonical checks that two different events never share an encoding
// (so never a hash), whatever bytes their fields hold.
func FuzzCanonical(f *testing.F) {
	f.Add("read", "a\x00b", node, "", "127.0.0.1", 200, "write", "ab", node, job, "127.0.0.1", 200)
	f.Add("read", "ab", "x", "", "", 0, "read", "a\x00b", "", "x", "", 0)
	f.Add("list", "", "", "", "", 1, "list", "\x00", "", "", "", 1)
	f.Fuzz(func(t *testing.T, a1, k1, actor1, job1, ip1 string, st1 int, a2, k2, actor2, job2, ip2 string, st2 int) {
		mk := func(a, k, actor, job, ip string, st int) audit.Event {
			e := audit.Event{Seq: 7, Time: t0, Action: audit.Action(a), Keys: []string{}, Actor: actor, Job: job, IP: ip, Status: st}
			if k != "" {
				e.Keys = strings.Split(k, "\x00")
			}
			return e
		}
		e1, e2 := mk(a1, k1, actor1, job1, ip1, st1), mk(a2, k2, actor2, job2, ip2, st2)
		same := a1 == a2 && slices.Equal(e1.Keys, e2.Keys) && actor1 == actor2 && job1 == job2 && ip1 == ip2 &&
			uint32(st1) == uint32(st2)
		if eq := bytes.Equal(audit.Canonical(e1), audit.Canonical(e2)); eq != same {
			t.Fatalf("events %+v and %+v: equal encodings %v, equal events %v", e1, e2, eq, same)
		}
	})
}

// FuzzVerify links a log of fuzzed events, checks it verifies, then changes
// one byte of one field of one event and checks Verify notices.
func FuzzVerify(f *testing.F) {
	f.Add(uint8(5), "DB_PASSWORD", node, job, "203.0.113.7", uint8(2), uint8(0), uint8(0), byte(1))
	f.Add(uint8(1), "", "", "", "", uint8(0), uint8(3), uint8(9), byte(0xff))
	f.Fuzz(func(t *testing.T, n uint8, key, actor, job, ip string, idx, field, pos uint8, flip byte) {
		size := int(n%8) + 1
		var head audit.Head
		log := make([]audit.Event, size)
		for i := range log {
			log[i], head = audit.Link(head, audit.Event{Time: t0.Add(time.Duration(i) * time.Minute),
				Action: audit.Read, Keys: []string{key, actor}, Actor: actor, Job: job, IP: ip, Status: 200 + i})
		}
		if got, err := audit.Verify(log); err != nil || got != head {
			t.Fatalf("untouched log: %+v, %v", got, err)
		}
		if flip == 0 {
			flip = 1
		}
		e := &log[int(idx)%size]
		change := func(s string) string {
			if s == "" {
				return string([]byte{flip})
			}
			b := []byte(s)
			b[int(pos)%len(b)] ^= flip
			return string(b)
		}
		switch field % 7 {
		case 0:
			e.Keys[0] = change(e.Keys[0])
		case 1:
			e.Actor = change(e.Actor)
		case 2:
			e.Job = change(e.Job)
		case 3:
			e.IP = change(e.IP)
		case 4:
			e.Status ^= int(flip)
		case 5:
			if flip%2 == 0 {
				e.Count += uint32(flip)
				break
			}
			e.Time = e.Time.Add(time.Duration(flip) * time.Millisecond)
		case 6:
			e.Hash = change(e.Hash)
		}
		if _, err := audit.Verify(log); err == nil {
			t.Fatalf("Verify accepted a log with event %d changed (field %d)", e.Seq, field%7)
		}
	})
}
