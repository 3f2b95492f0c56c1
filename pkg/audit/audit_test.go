package audit_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

const (
	node = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"
	job  = "GNUyAWxo7NCX8KtusRkNVbnPBUXKBvgaMR4kmcNAT3tZ"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC) // sub-ms part is dropped

// The known answers below were computed outside Go (Python's struct and
// hashlib over the layout documented on Canonical), so a change of the
// encoding, or of how Go formats anything, fails here.
const (
	kaCanonical1 = "6e6f73616e612d736563726574732061756469742076310a" + // domain
		"0000000000000001" + "0000019b7ca98f2e" + // seq, time ms
		"00000004" + "72656164" + // "read"
		"00000002" + "0000000b" + "44425f50415353574f5244" + "0000000a" + "63692f7373682d6b6579" +
		"0000002b" + "37456344685359477858797363737a59457033354b484e3876767733737641754c4b547a587743464c7456" +
		"00000000" + // job
		"0000000b" + "3230332e302e3131332e37" + // ip
		"000000c8" + "00000000" + "00" // status, count (one), no trim
	kaHash1 = "41752d4e8cb8b8acd155222f373b5a21147c9db11dd2b6cb90d488513461f6a2"
	kaHash2 = "dc86c89b772d4d5f57acf33079d43b13281321586e7a091e97455f328b8e5cf2"
	kaHash3 = "f07cacb73f8b9519a74c6107d379e7655d842ca72b3b52481803f9501860b4a9"
)

// knownLog is a read (Count 1, stored as 0), a burst of three job writes
// with non-ASCII keys and an IPv6 address, and a trim that keeps events
// from seq 2.
func knownLog() []audit.Event {
	var head audit.Head
	var log []audit.Event
	add := func(e audit.Event) {
		e, head = audit.Link(head, e)
		log = append(log, e)
	}
	add(audit.Event{Time: t0, Action: audit.Read, Keys: []string{"DB_PASSWORD", "ci/ssh-key"},
		Actor: node, IP: "203.0.113.7", Status: 200, Count: 1})
	add(audit.Event{Time: t0.Add(time.Second), Action: audit.Write, Keys: []string{"café/ü"},
		Actor: node, Job: job, IP: "2001:db8::1", Status: 200, Count: 3})
	add(audit.TrimEvent(t0.Add(2*time.Second), 2, log[0].Hash))
	return log
}

func TestKnownAnswers(t *testing.T) {
	log := knownLog()
	if got := hex.EncodeToString(audit.Canonical(log[0])); got != kaCanonical1 {
		t.Errorf("canonical encoding of event 1:\n got %s\nwant %s", got, kaCanonical1)
	}
	for i, want := range []string{kaHash1, kaHash2, kaHash3} {
		if log[i].Hash != want {
			t.Errorf("hash of event %d = %s, want %s", i+1, log[i].Hash, want)
		}
	}
	if log[0].PrevHash != audit.Genesis || log[1].PrevHash != kaHash1 {
		t.Errorf("links: %s, %s", log[0].PrevHash, log[1].PrevHash)
	}
	head, err := audit.Verify(log)
	if err != nil || head != (audit.Head{Seq: 3, Hash: kaHash3}) {
		t.Fatalf("Verify = %+v, %v", head, err)
	}
}

// The chain survives a round trip through JSON, as events do between the
// server and `audit verify`, with the times a backend keeps.
func TestJSONRoundTrip(t *testing.T) {
	log := knownLog()
	b, err := json.Marshal(log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"keys":null`) || !strings.Contains(string(b), `"time":"2026-01-02T03:04:05.678Z"`) {
		t.Errorf("JSON %s", b)
	}
	var back []audit.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(back); err != nil {
		t.Fatal(err)
	}
	// A backend that keeps microseconds in another zone changes nothing.
	back[0].Time = back[0].Time.In(time.FixedZone("x", 3600))
	if _, err := audit.Verify(back); err != nil {
		t.Fatal(err)
	}
}

func chain(n int) []audit.Event {
	var head audit.Head
	log := make([]audit.Event, n)
	for i := range log {
		log[i], head = audit.Link(head, audit.Event{Time: t0.Add(time.Duration(i) * time.Second),
			Action: audit.Read, Keys: []string{"k"}, Actor: node, IP: "127.0.0.1", Status: 200})
	}
	return log
}

func wantBreak(t *testing.T, log []audit.Event, seq uint64, reason string) {
	t.Helper()
	_, err := audit.Verify(log)
	var ce *audit.ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("Verify = %v, want a ChainError", err)
	}
	if ce.Seq != seq || !strings.Contains(ce.Reason, reason) {
		t.Errorf("Verify = %v, want a break at seq %d: %s", err, seq, reason)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	edits := map[string]func(*audit.Event){
		"time":   func(e *audit.Event) { e.Time = e.Time.Add(time.Millisecond) },
		"action": func(e *audit.Event) { e.Action = audit.Write },
		"keys":   func(e *audit.Event) { e.Keys = []string{"other"} },
		"key moved between fields": func(e *audit.Event) {
			e.Keys = []string{"k" + e.Actor}
			e.Actor = ""
		},
		"no keys": func(e *audit.Event) { e.Keys = nil },
		"actor":   func(e *audit.Event) { e.Actor = job },
		"job":     func(e *audit.Event) { e.Job = job },
		"ip":      func(e *audit.Event) { e.IP = "10.0.0.1" },
		"status":  func(e *audit.Event) { e.Status = 403 },
		"count":   func(e *audit.Event) { e.Count = 2 },
		"seq":     func(e *audit.Event) { e.Seq = 9 },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			log := chain(4)
			edit(&log[2])
			wantBreak(t, log, log[2].Seq, "altered")
		})
	}
	t.Run("edited and rehashed", func(t *testing.T) {
		log := chain(4)
		log[1].Status = 403
		log[1].Hash, _ = audit.ComputeHash(log[1])
		wantBreak(t, log, 3, "rewritten")
	})
	t.Run("deleted", func(t *testing.T) {
		log := chain(4)
		log = append(log[:1], log[2:]...)
		wantBreak(t, log, 3, "missing")
	})
	t.Run("first deleted", func(t *testing.T) {
		wantBreak(t, chain(4)[1:], 2, "no trim event")
	})
	t.Run("reordered", func(t *testing.T) {
		log := chain(4)
		log[1], log[2] = log[2], log[1]
		wantBreak(t, log, 3, "out of order")
	})
	t.Run("renumbered after a deletion", func(t *testing.T) {
		log := chain(4)
		log = append(log[:1], log[2:]...)
		log[1].Seq = 2
		wantBreak(t, log, 2, "altered")
	})
	t.Run("bad prev_hash", func(t *testing.T) {
		log := chain(2)
		log[1].PrevHash = strings.ToUpper(log[1].PrevHash)
		wantBreak(t, log, 2, "hex")
	})
	t.Run("unknown action", func(t *testing.T) {
		log := chain(2)
		log[1].Action = "sneak"
		wantBreak(t, log, 2, "unknown action")
	})
	t.Run("forged genesis", func(t *testing.T) {
		e, _ := audit.Link(audit.Head{}, audit.Event{Action: audit.Read})
		e.PrevHash = kaHash1
		e.Hash, _ = audit.ComputeHash(e)
		wantBreak(t, []audit.Event{e}, 1, "genesis")
	})
}

func TestTrim(t *testing.T) {
	log := chain(6)
	head := audit.Head{Seq: 6, Hash: log[5].Hash}
	trim, _ := audit.Link(head, audit.TrimEvent(t0, 4, log[3].PrevHash))
	log = append(log, trim)

	if _, err := audit.Verify(log[3:]); err != nil {
		t.Errorf("log trimmed to seq 4: %v", err)
	}
	if _, err := audit.Verify(log); err != nil {
		t.Errorf("trim recorded but nothing removed yet: %v", err)
	}
	if _, err := audit.Verify(log[1:]); err != nil {
		t.Errorf("trim interrupted half-way: %v", err)
	}
	wantBreak(t, log[4:], 5, "events were removed")

	// A trim whose anchor is not the kept event's link.
	bad := chain(6)
	t2, _ := audit.Link(audit.Head{Seq: 6, Hash: bad[5].Hash}, audit.TrimEvent(t0, 4, kaHash1))
	wantBreak(t, append(bad[3:], t2), 4, "anchor")

	// A trim claiming events after itself.
	t3, _ := audit.Link(audit.Head{Seq: 6, Hash: bad[5].Hash}, audit.TrimEvent(t0, 9, kaHash1))
	wantBreak(t, append(bad[3:6:6], t3), 7, "after itself")
}

// A refusal's reason is part of the hash when set, and an event without
// one encodes as before reasons existed.
func TestReasonIsHashed(t *testing.T) {
	e := audit.Event{Seq: 1, Time: time.UnixMilli(1700000000000).UTC(), Action: audit.OIDCExchange, Keys: []string{}, Actor: "oidc https://issuer", Status: 403}
	plain := audit.Canonical(e)
	e.Reason = "wrong_audience"
	withReason := audit.Canonical(e)
	if string(plain) == string(withReason) || !strings.HasPrefix(string(withReason), string(plain)) {
		t.Fatal("the reason does not extend the canonical form")
	}
	linked, _ := audit.Link(audit.Head{}, e)
	b, _ := json.Marshal(linked)
	var back audit.Event
	if err := json.Unmarshal(b, &back); err != nil || back.Reason != "wrong_audience" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	if _, err := audit.Verify([]audit.Event{back}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	back.Reason = "expired"
	if _, err := audit.Verify([]audit.Event{back}); err == nil {
		t.Error("an edited reason verifies")
	}
}
