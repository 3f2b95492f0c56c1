package testserver

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// homeVars are where a process finds the user's files: a test never lets
// one through to what it runs, and GuardHome points them at an empty
// directory for a whole package.
var homeVars = []string{"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"}

// toolEnv is the environment the process started with, before GuardHome:
// the Go toolchain that Binary runs keeps the developer's caches, proxy
// and settings (it is the developer's tool, not the test's).
var toolEnv = os.Environ()

// GuardHome points HOME and the XDG directories at a new empty directory
// for the rest of the process and returns finish, which removes it and
// turns code into a failure if anything was written there: no test reads
// or writes the real HOME. In TestMain:
// os.Exit(testserver.GuardHome()(m.Run())).
func GuardHome() (finish func(code int) int) {
	home, err := os.MkdirTemp("", "nosana-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "GuardHome:", err)
		os.Exit(1)
	}
	for _, v := range homeVars {
		os.Unsetenv(v)
	}
	os.Setenv("HOME", home)
	return func(code int) int {
		return checkHome(home, code)
	}
}

func checkHome(home string, code int) int {
	var written []string
	_ = filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != home {
			written = append(written, strings.TrimPrefix(path, home+"/"))
		}
		return nil
	})
	os.RemoveAll(home)
	if len(written) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests wrote into HOME, which no test may touch: %s\n", strings.Join(written, ", "))
		code = 1
	}
	return code
}

// privateHome is env with HOME and the XDG directories replaced by a new
// directory of t's.
func privateHome(t testing.TB, env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !hasAnyPrefix(kv, homeVars) {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+t.TempDir())
}

func hasAnyPrefix(kv string, names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(kv, n+"=") {
			return true
		}
	}
	return false
}
