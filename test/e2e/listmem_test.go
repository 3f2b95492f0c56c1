package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
)

// TestListingMemory: four concurrent GET /secrets of one owner's 40 MB
// (10,000 values of 4 KiB) keep the server's peak RSS under 100 MiB: a
// listing is read and answered a page at a time.
func TestListingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 40 MB")
	}
	const n, size = 10000, 4096
	cfg := testserver.Config("sqlite://" + filepath.Join(t.TempDir(), "mem.sqlite"))
	cfg["RATE_LIMIT_SECRETS_IP"], cfg["RATE_LIMIT_SECRETS_ADDRESS"] = "0", "0"
	srv := testserver.Start(t, cfg)
	a := api{t, srv.URL}
	tok := a.login(authtest.NewWallet())
	value := `"` + strings.Repeat("x", size-2) + `"`
	for i := 0; i < n; i += 200 {
		var b bytes.Buffer
		b.WriteString(`{"secrets":{`)
		for j := i; j < i+200; j++ {
			if j > i {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%05d":%s`, j, value)
		}
		b.WriteString(`}}`)
		a.expect(a.do("POST", "/secrets", tok, b.Bytes()), 200, "", "")
	}
	before := peakRSS(t, srv.PID())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := hungDo(srv.URL, "GET", "/secrets", tok, nil)
			if err != nil {
				t.Error(err)
				return
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.body, &m); err != nil || len(m) != n {
				t.Errorf("listing: %d, %d secrets (%v)", r.status, len(m), err)
			}
		}()
	}
	wg.Wait()
	peak := peakRSS(t, srv.PID())
	t.Logf("server peak RSS %d MiB after filling, %d MiB after four 40 MB listings", before>>10, peak>>10)
	if peak > 100<<10 {
		t.Errorf("peak RSS %d MiB, want under 100 MiB", peak>>10)
	}
}

// peakRSS is VmHWM of pid, in KiB.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
