package storagetest

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"testing"
)

var (
	skipMu  sync.Mutex
	skipped = map[string]bool{} // backends whose tests URI skipped
)

func noteSkip(backend string) {
	skipMu.Lock()
	skipped[backend] = true
	skipMu.Unlock()
}

// Main is a TestMain for packages that test backends: it runs the tests,
// then prints one line per backend whose tests were skipped because its
// NOSANA_TEST_* variable is unset. go test hides the output of a passing
// package, so the lines go to the terminal (/dev/tty) when there is one,
// else to stderr (seen with -v or when a package fails).
func Main(m *testing.M) { os.Exit(MainCode(m)) }

// MainCode is Main without the exit: it answers the code to exit with.
func MainCode(m *testing.M) int {
	code := m.Run()
	var w io.Writer = os.Stderr
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		w = tty
	}
	pkg, _ := os.Getwd()
	WriteSkipped(w, pkg)
	return code
}

// WriteSkipped writes one line per backend that URI skipped so far.
func WriteSkipped(w io.Writer, pkg string) {
	skipMu.Lock()
	var names []string
	for b := range skipped {
		names = append(names, b)
	}
	skipMu.Unlock()
	sort.Strings(names)
	for _, b := range names {
		fmt.Fprintf(w, "skipped the %s tests in %s: %s is not set (see README, Development)\n", b, pkg, EnvVar(b))
	}
}
