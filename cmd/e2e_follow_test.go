package cmd_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/testserver"
)

// TestAuditFollow: `audit --follow` (the real binary) prints the log so
// far, then an event that arrives while it runs, and on SIGINT stops
// with exit 0 and nothing on stderr.
func TestAuditFollow(t *testing.T) {
	_, u := startOwner(t)
	u.expect(0, "FIRST\n", "", "set", "FIRST=1")

	cmd := exec.Command(testserver.Binary(t), "audit", "--follow")
	cmd.Env = u.env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor := func(what string, match func(string) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("audit --follow ended before %s; stderr: %s", what, stderr.String())
				}
				if match(l) {
					return
				}
			case <-deadline:
				t.Fatalf("audit --follow printed no %s in 20s", what)
			}
		}
	}
	write := func(key string) func(string) bool {
		return func(l string) bool { return strings.Contains(l, "\twrite\t200\t") && strings.HasSuffix(l, "\t"+key) }
	}
	waitFor("write of FIRST", write("FIRST"))

	u.expect(0, "LATER\n", "", "set", "LATER=2")
	waitFor("write of LATER, made while it follows", write("LATER"))

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until it exits
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("audit --follow after SIGINT: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("audit --follow did not stop within 10s of SIGINT")
	}
	if stderr.Len() != 0 {
		t.Errorf("audit --follow wrote to stderr: %s", stderr.String())
	}
}
