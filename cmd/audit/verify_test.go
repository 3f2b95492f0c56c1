package auditcmd_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/client/clienttest"
	auditcmd "github.com/nosana-ci/nosana-secrets/cmd/audit"
	"github.com/nosana-ci/nosana-secrets/cmd/internal/cmdtest"
	"github.com/nosana-ci/nosana-secrets/pkg/audit"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const node = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"

func signer(b byte) *audit.Signer {
	s, err := audit.NewSigner(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		panic(err)
	}
	return s
}

var (
	serverKey = signer(1)
	otherKey  = signer(2)
)

// fixture is an owner's log as a store holds it, appended as the server
// does: the newest event of each append signed (by sign; nil: by someone
// without the master key).
type fixture struct{ events []audit.Event }

func (f *fixture) add(sign *audit.Signer, evs ...audit.Event) *fixture {
	var head audit.Head
	if n := len(f.events); n > 0 {
		head = audit.Head{Seq: f.events[n-1].Seq, Hash: f.events[n-1].Hash}
	}
	for i, e := range evs {
		e, head = audit.Link(head, e)
		if sign != nil && i == len(evs)-1 {
			sign.Sign(cmdtest.Address, &e)
		}
		f.events = append(f.events, e)
	}
	return f
}

// relink recomputes every hash from event i on, keeping the signatures
// as stored: what an operator without the master key can do.
func (f *fixture) relink(i int) *fixture {
	for ; i < len(f.events); i++ {
		e := f.events[i]
		e.Seq = uint64(i) + f.events[0].Seq
		if i > 0 {
			e.PrevHash = f.events[i-1].Hash
		}
		e.Hash, _ = audit.ComputeHash(e)
		f.events[i] = e
	}
	return f
}

func (f *fixture) head(i int) string {
	return fmt.Sprintf("%d:%s", f.events[i].Seq, f.events[i].Hash)
}

func read(i int) audit.Event {
	return audit.Event{Time: t0.Add(time.Duration(i) * time.Hour), Action: audit.Read, Keys: []string{"DB_PASSWORD"},
		Actor: node, Job: "GNUyAWxo7NCX8KtusRkNVbnPBUXKBvgaMR4kmcNAT3tZ", IP: "203.0.113.7", Status: 200}
}

// eight reads, appended two by two.
func eight() *fixture {
	f := &fixture{}
	for i := 0; i < 8; i += 2 {
		f.add(serverKey, read(i), read(i+1))
	}
	return f
}

// retention is eight() after a signed retention trim of events 1 to 4,
// with the events removed.
func retention() *fixture {
	f := eight()
	now := t0.Add(100 * 24 * time.Hour)
	f.add(serverKey, audit.RetentionTrim(now, 5, f.events[4].PrevHash, now.Add(-90*24*time.Hour), 90*24*time.Hour))
	f.events = f.events[4:]
	return f
}

// auditAPI answers GET /v1/audit from log (pages of 3, newest first) and
// GET /v1/audit/key with keys (nil: 404, as a server that predates them);
// every other request goes to the real test server.
type auditAPI struct {
	log  []audit.Event
	keys []audit.PublicKey
}

func (a auditAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	answer := func(status int, v any) (*http.Response, error) {
		b, _ := json.Marshal(v)
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(b)), Request: r}, nil
	}
	switch r.URL.Path {
	case "/v1/audit/key":
		if a.keys == nil {
			return answer(404, map[string]string{"type": "NotFoundError", "message": "no such route", "code": "no_route"})
		}
		return answer(200, map[string]any{"keys": a.keys})
	case "/v1/audit":
		before := uint64(len(a.log) + 1)
		if len(a.log) > 0 {
			before = a.log[len(a.log)-1].Seq + 1
		}
		if c := r.URL.Query().Get("cursor"); c != "" {
			before, _ = strconv.ParseUint(c, 10, 64)
		}
		page := []audit.Event{}
		for i := len(a.log) - 1; i >= 0 && len(page) < 3; i-- {
			if a.log[i].Seq < before {
				page = append(page, a.log[i])
			}
		}
		var next *string
		if n := len(page); n == 3 && page[n-1].Seq > a.log[0].Seq {
			c := strconv.FormatUint(page[n-1].Seq, 10)
			next = &c
		}
		return answer(200, map[string]any{"items": page, "next_cursor": next})
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestVerify(t *testing.T) {
	srv := clienttest.NewServer(t)
	published := []audit.PublicKey{serverKey.PublicKey()}
	ok := eight()
	trimmed := retention()
	cases := []struct {
		name string
		log  *fixture
		keys []audit.PublicKey
		args []string
		code int
	}{
		{"signed", ok, published, nil, 0},
		{"noted head", ok, published, []string{"--head", ok.head(4)}, 0},
		{"pinned key", ok, []audit.PublicKey{otherKey.PublicKey(), serverKey.PublicKey()}, []string{"--key", serverKey.PublicKey().String()}, 0},
		{"empty", &fixture{}, published, nil, 0},
		{"head removed by retention", trimmed, published, []string{"--head", eight().head(1)}, 0},
		{"first kept event as noted", trimmed, published, []string{"--head", eight().head(4)}, 0},

		{"pinned key not published", ok, published, []string{"--key", otherKey.PublicKey().String()}, 1},
		{"signed by another key", ok, []audit.PublicKey{otherKey.PublicKey()}, nil, 1},
		{"no key published", ok, nil, nil, 1},
		{"unsigned newest events", eight().add(nil, read(9), read(10)), published, []string{"--head", ok.head(7)}, 1},
		{"rewritten after the noted head", func() *fixture {
			f := eight()
			f.events[5].Actor = "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF" // the node's read passed off as the owner's
			return f.relink(5)
		}(), published, []string{"--head", ok.head(3)}, 1},
		{"middle event dropped", func() *fixture {
			f := eight()
			f.events = append(f.events[:5], f.events[6:]...)
			return f.relink(5).add(serverKey, read(20))
		}(), published, []string{"--head", ok.head(3)}, 1},
		{"events reordered", func() *fixture {
			f := eight()
			f.events[4], f.events[5] = f.events[5], f.events[4]
			return f.relink(4)
		}(), published, []string{"--head", ok.head(2)}, 1},
		{"end removed", func() *fixture { f := eight(); f.events = f.events[:6]; return f }(), published, []string{"--head", ok.head(7)}, 1},
		{"start removed with a forged trim", func() *fixture {
			f := eight()
			f.add(nil, audit.RetentionTrim(t0.Add(200*24*time.Hour), 9, f.events[7].Hash, t0.Add(110*24*time.Hour), 90*24*time.Hour))
			f.add(serverKey, read(4900)) // the owner's next sign-in, signed by the server
			f.events = f.events[8:]
			return f
		}(), published, []string{"--head", ok.head(3)}, 1},
		{"start removed without a trim", func() *fixture { f := eight(); f.events = f.events[4:]; return f }(), published, []string{"--head", ok.head(1)}, 1},
		// Finding 7: the noted head is the first kept event, with another hash.
		{"first kept event rewritten", trimmed, published, []string{"--head", "5:" + strings.Repeat("ab", 32)}, 1},

		{"bad head", ok, published, []string{"--head", "5:XYZ"}, 2},
		{"bad key", ok, published, []string{"--key", "abc:123"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _, out, errOut := cmdtest.Factory(t, false, srv)
			f.HTTPClient = &http.Client{Transport: auditAPI{log: tc.log.events, keys: tc.keys}}
			err := cmdtest.Run(auditcmd.NewCmdAudit(f, nil), append([]string{"verify"}, tc.args...)...)
			got := cmdtest.Transcript(err, out.String(), errOut.String())
			if !strings.HasPrefix(got, fmt.Sprintf("# exit %d\n", tc.code)) {
				t.Errorf("want exit %d:\n%s", tc.code, got)
			}
			cmdtest.Golden(t, "verify_"+tc.name, got)
		})
	}
}

// TestListOutput: the log as a table with a header on a terminal, as
// tab-separated lines without one elsewhere (gh's convention), and as
// JSON and YAML (issue 21, finding 6).
func TestListOutput(t *testing.T) {
	srv := clienttest.NewServer(t)
	log := eight().events
	for _, m := range cmdtest.Modes {
		for _, args := range [][]string{nil, {"-o", "json"}, {"-o", "yaml"}} {
			name := "list_" + m.Name
			if args != nil {
				name += "_" + args[1]
			}
			t.Run(name, func(t *testing.T) {
				f, _, out, errOut := cmdtest.Factory(t, m.TTY, srv)
				f.HTTPClient = &http.Client{Transport: auditAPI{log: log, keys: []audit.PublicKey{serverKey.PublicKey()}}}
				err := cmdtest.Run(auditcmd.NewCmdAudit(f, nil), args...)
				cmdtest.Golden(t, name, cmdtest.Transcript(err, out.String(), errOut.String()))
			})
		}
	}
}
