package audit_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// vectorsFile holds events with every field set, linked and signed as a
// server does, with what pkg/audit computes of them: the web console's
// port (web/src/chain.js) must give the same bytes (web/test/chain.test.mjs).
const vectorsFile = "testdata/vectors.json"

type vectors struct {
	Owner       string            `json:"owner"`
	Keys        []audit.PublicKey `json:"keys"`
	Events      []audit.Event     `json:"events"`
	Canonical   []string          `json:"canonical"`    // hex, one per event
	SignedBytes []string          `json:"signed_bytes"` // hex, "" for an unsigned event
	Head        audit.Head        `json:"head"`
	Vouched     uint64            `json:"vouched"`
	Actions     []audit.Action    `json:"actions"` // every valid action, which chain.js must accept
}

func makeVectors(t *testing.T) vectors {
	t.Helper()
	old, cur := seedSigner(t, 3), seedSigner(t, 4)
	day := 24 * time.Hour
	many := make([]string, 20)
	for i := range many {
		many[i] = strings.Repeat("k", i+1) + "/名前"
	}
	l := &signedLog{t: t}
	l.add(old,
		audit.Event{Time: t0, Action: audit.Login, Actor: owner, IP: "198.51.100.2", Status: 200},
		audit.Event{Time: t0.Add(time.Second), Action: audit.Read, Keys: []string{"café/ü", "日本", "🔑 key", "\u202eevil", "tab\there"},
			Actor: node, Job: job, IP: "2001:db8::1", Status: 200, Count: 7, Last: t0.Add(41 * time.Second)})
	l.add(old, audit.Event{Time: t0.Add(2 * time.Second), Action: audit.Delete, Keys: many, Actor: owner, IP: "198.51.100.2", Status: 200})
	l.add(old, audit.Event{Time: t0.Add(3 * time.Second), Action: audit.Denied, Keys: []string{"secret"}, Actor: node, Job: job, IP: "203.0.113.9", Status: 400})
	// A retention past 2^53 nanoseconds, where a JSON number is no longer
	// a safe integer in JavaScript.
	now, ret := t0.Add(500*day), 400*day+123*time.Millisecond
	l.add(old, audit.RetentionTrim(now, 2, l.events[1].PrevHash, now.Add(-ret), ret))
	l.add(old, audit.QuotaTrim(now.Add(time.Minute), 3, l.events[2].PrevHash))
	l.add(old, audit.TrimEvent(now.Add(2*time.Minute), 3, l.events[2].PrevHash)) // a trim of a release without reasons
	l.add(cur, audit.Event{Time: now.Add(time.Hour), Action: audit.Rekey, Keys: []string{}, Vouch: []string{old.PublicKey().String(), seedSigner(t, 5).PublicKey().String()}})
	l.add(cur, audit.Event{Time: now.Add(2 * time.Hour), Action: audit.Write, Keys: []string{"DB"}, Actor: owner, Job: "", IP: "127.0.0.1", Status: 200, Count: 2})
	v := vectors{Owner: owner, Keys: []audit.PublicKey{cur.PublicKey()}, Events: l.events, Actions: audit.Actions()}
	for _, e := range l.events {
		v.Canonical = append(v.Canonical, hex.EncodeToString(audit.Canonical(e)))
		sb := ""
		if e.Sig != "" {
			sb = hex.EncodeToString(audit.SignedBytes(owner, e.Seq, e.Hash))
		}
		v.SignedBytes = append(v.SignedBytes, sb)
	}
	rep, err := audit.VerifySigned(l.events, owner, audit.Keys{cur.PublicKey().ID: mustKey(t, cur)})
	if err != nil {
		t.Fatal(err)
	}
	v.Head, v.Vouched = rep.Head, rep.Vouched
	return v
}

func mustKey(t *testing.T, s *audit.Signer) []byte {
	b, err := hex.DecodeString(s.PublicKey().Key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors: the vectors on file are what pkg/audit computes now, and
// they set every field of an event, so the JavaScript test covers each.
func TestVectors(t *testing.T) {
	v := makeVectors(t)
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	for _, field := range []string{`"job"`, `"count"`, `"last"`, `"key_count"`, `"keys_digest"`, `"trimmed"`, `"reason": "retention"`,
		`"reason": "quota"`, `"before"`, `"retention"`, `"vouch"`, `"sig_key"`, `"sig"`} {
		if !bytes.Contains(got, []byte(field)) {
			t.Errorf("no event sets %s", field)
		}
	}
	if *update {
		if err := os.WriteFile(vectorsFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what pkg/audit computes: the encoding changed; if that is meant, run go test -update and port the change to web/src/chain.js", vectorsFile)
	}
}

// TestChainJS runs the console's port of the chain and signature checks
// (web/src/chain.js) over the vectors, with node's test runner.
func TestChainJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if ci.On() {
			t.Fatal("no node on PATH: the console's chain check is tested with it")
		}
		t.Skip("no node on PATH: skipping the test of web/src/chain.js")
	}
	script, _ := filepath.Abs("../../web/test/chain.test.mjs")
	out, err := exec.Command(node, "--test", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", script, err, out)
	}
}
