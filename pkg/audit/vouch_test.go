package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/pkg/audit"
	"github.com/nosana-ci/nosana-secrets/pkg/audit/audittest"
)

// Signed remembers the last good head per owner; the memory must answer
// only for that exact head, signature and key, never for a near miss.
func TestSignedRemembersOnlyTheExactHead(t *testing.T) {
	s, _ := audittest.Signer(t, "vouch")
	other, _ := audittest.Signer(t, "vouch-other")
	s.Trust(other.PublicKey())
	log := appendSigned(nil, s, read("K", time.Unix(1, 0)))
	e := log[0]
	head := audit.Head{Seq: e.Seq, Hash: e.Hash}
	forged := []byte(e.Sig)
	forged[0] ^= 1
	cases := []struct {
		name, owner string
		head        audit.Head
		sigKey, sig string
		want        bool
	}{
		{"the head Sign made", owner, head, e.SigKey, e.Sig, true},
		{"a changed signature", owner, head, e.SigKey, string(forged), false},
		{"another owner", owner + "x", head, e.SigKey, e.Sig, false},
		{"another seq", owner, audit.Head{Seq: e.Seq + 1, Hash: e.Hash}, e.SigKey, e.Sig, false},
		{"another key id", owner, head, other.PublicKey().ID, e.Sig, false},
		{"an unknown key id", owner, head, "0000000000000000", e.Sig, false},
		{"the head Sign made, again", owner, head, e.SigKey, e.Sig, true},
	}
	for _, tc := range cases {
		if got := s.Signed(tc.owner, tc.head, tc.sigKey, tc.sig); got != tc.want {
			t.Errorf("%s: Signed = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A head a trusted key signed is verified once and then remembered;
	// a forgery of the same head is still refused.
	log2 := appendSigned(nil, other, read("K", time.Unix(2, 0)))
	h2 := audit.Head{Seq: log2[0].Seq, Hash: log2[0].Hash}
	for range 2 {
		if !s.Signed(owner, h2, log2[0].SigKey, log2[0].Sig) {
			t.Fatal("a trusted key's head is refused")
		}
	}
	bad := []byte(log2[0].Sig)
	bad[len(bad)-1] ^= 1
	if s.Signed(owner, h2, log2[0].SigKey, string(bad)) {
		t.Fatal("a forged signature of a remembered head is vouched for")
	}
}

// BenchmarkSigned is the check an append makes of the head it continues:
// the head Sign just made (hit), and heads it did not (two valid heads of
// one owner in turn, so the one remembered is never the one asked).
func BenchmarkSigned(b *testing.B) {
	s, _ := audittest.Signer(b, "bench")
	one := appendSigned(nil, s, read("K", time.Unix(1, 0)))[0]
	two := appendSigned(nil, s, read("K", time.Unix(2, 0)))[0]
	b.Run("hit", func(b *testing.B) {
		for b.Loop() {
			s.Signed(owner, audit.Head{Seq: two.Seq, Hash: two.Hash}, two.SigKey, two.Sig)
		}
	})
	b.Run("miss", func(b *testing.B) {
		heads := []audit.Event{one, two}
		i := 0
		for b.Loop() {
			e := heads[i%2]
			i++
			if !s.Signed(owner, audit.Head{Seq: e.Seq, Hash: e.Hash}, e.SigKey, e.Sig) {
				b.Fatal("refused")
			}
		}
	})
}

// Remembers answers only for the exact head the ctx's signer signed last
// for that owner, and never without a signer.
func TestRemembers(t *testing.T) {
	s, _ := audittest.Signer(t, "remember")
	ctx := audit.WithSigner(context.Background(), s)
	log := appendSigned(nil, s, read("K", time.Unix(1, 0)), read("L", time.Unix(2, 0)))
	newest, older := log[1], log[0]
	cases := []struct {
		name  string
		ctx   context.Context
		owner string
		head  audit.Head
		want  bool
	}{
		{"the head signed last", ctx, owner, audit.Head{Seq: newest.Seq, Hash: newest.Hash}, true},
		{"an older head", ctx, owner, audit.Head{Seq: older.Seq, Hash: older.Hash}, false},
		{"another hash", ctx, owner, audit.Head{Seq: newest.Seq, Hash: older.Hash}, false},
		{"another owner", ctx, owner + "x", audit.Head{Seq: newest.Seq, Hash: newest.Hash}, false},
		{"no signer", context.Background(), owner, audit.Head{Seq: newest.Seq, Hash: newest.Hash}, false},
		{"an empty log", ctx, owner, audit.Head{}, false},
	}
	for _, tc := range cases {
		if got := audit.Remembers(tc.ctx, tc.owner, tc.head); got != tc.want {
			t.Errorf("%s: Remembers = %v, want %v", tc.name, got, tc.want)
		}
	}
}
