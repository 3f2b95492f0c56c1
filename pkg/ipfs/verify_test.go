package ipfs_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nosana-ci/nosana-secrets/pkg/ipfs"
	"github.com/nosana-ci/nosana-secrets/pkg/ipfs/ipfstest"
)

// bigDoc is a JSON document of three chunks, as importers cut it.
func bigDoc(grant string) []byte {
	return []byte(`{"state":{"nosana/secrets":["` + grant + `"]},"pad":"` + strings.Repeat("p", 600<<10) + `"}`)
}

func TestFetchRefusesSwappedDocument(t *testing.T) {
	for _, tc := range []struct {
		name           string
		real, swapped  []byte
		grantsOfServed string
	}{
		{"one chunk", []byte(jobDoc), []byte(`{"type":"Github","state":{"nosana/secrets":["pipeline1-ssh-key","prod-db"]}}`), "pipeline1-ssh-key"},
		// One byte differs, in the last chunk: only a check of every chunk sees it.
		{"several chunks", bigDoc("a"), append(bigDoc("a")[:len(bigDoc("a"))-2], 'q', '}'), "a"},
		{"empty answer", []byte(jobDoc), nil, "pipeline1-ssh-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ipfstest.NewGateway(t)
			c := newClient(t, ipfs.Config{Gateway: g.URL + "?pinataGatewayToken=SECRET"})
			ctx := context.Background()
			cid := ipfs.CID(g.Add(tc.real))
			g.Put(cid, tc.swapped)

			_, err := c.Fetch(ctx, cid)
			if !errors.Is(err, ipfs.ErrUnverified) || !errors.Is(err, ipfs.ErrInvalidDocument) {
				t.Fatalf("error = %v, want ErrUnverified, an ErrInvalidDocument", err)
			}
			if msg := err.Error(); !strings.Contains(msg, cid) || !strings.Contains(msg, "does not match the digest on chain") || strings.Contains(msg, "SECRET") {
				t.Errorf("message %q should name %s, say it does not match, and not show the token", msg, cid)
			}

			// Not cached: once the gateway serves the real document, it is used.
			g.Put(cid, tc.real)
			doc, err := c.Fetch(ctx, cid)
			if err != nil {
				t.Fatalf("real document: %v", err)
			}
			if got := ipfs.Grants(doc); len(got) != 1 || got[0] != tc.grantsOfServed {
				t.Errorf("Grants = %q", got)
			}
			if _, err := c.Fetch(ctx, cid); err != nil {
				t.Fatal(err)
			}
			if n := g.Requests(cid); n != 2 {
				t.Errorf("gateway saw %d requests, want 2 (the refused answer was not cached, the checked one is)", n)
			}
		})
	}
}

func TestFetchSkipVerify(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL, SkipVerify: true})
	cid := ipfs.CID(g.Add([]byte(jobDoc)))
	g.Put(cid, []byte(`{"secrets":["other"]}`))
	doc, err := c.Fetch(context.Background(), cid)
	if err != nil {
		t.Fatal(err)
	}
	if got := ipfs.Grants(doc); len(got) != 1 || got[0] != "other" {
		t.Errorf("Grants = %q, want the served document's", got)
	}
	// Without verification a CID of another form is fetched as before.
	if _, err := c.Fetch(context.Background(), "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"); !errors.Is(err, ipfs.ErrNotFound) {
		t.Errorf("CIDv1: error = %v, want ErrNotFound from the gateway", err)
	}
}

func TestFetchMultiChunk(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL})
	cid := ipfs.CID(g.Add(bigDoc("big")))
	doc, err := c.Fetch(context.Background(), cid)
	if err != nil {
		t.Fatal(err)
	}
	if got := ipfs.Grants(doc); len(got) != 1 || got[0] != "big" {
		t.Errorf("Grants = %q", got)
	}
}

func TestFetchRefusesOtherCIDForms(t *testing.T) {
	g := ipfstest.NewGateway(t)
	c := newClient(t, ipfs.Config{Gateway: g.URL})
	for _, cid := range []string{
		"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", // CIDv1, raw
		"QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQ",               // a CIDv0 one letter short
		"Qm0OIl", // not base58
	} {
		_, err := c.Fetch(context.Background(), cid)
		if !errors.Is(err, ipfs.ErrInvalidDocument) || !strings.Contains(err.Error(), "not a CIDv0") {
			t.Errorf("Fetch(%s) error = %v, want ErrInvalidDocument: not a CIDv0", cid, err)
		}
	}
	if n := g.Total(); n != 0 {
		t.Errorf("gateway saw %d requests for CIDs it could not verify", n)
	}
}
