package run

import (
	"os"
	"os/exec"
	"strings"
)

// Windows has no signals to pass on besides the console's Ctrl-C, which
// reaches the child directly.
var forwarded = []os.Signal{os.Interrupt}

func exitCode(ee *exec.ExitError) int {
	if c := ee.ExitCode(); c >= 0 {
		return c
	}
	return 1
}

// envKey is the name as the OS compares it: case-insensitive on Windows.
func envKey(name string) string { return strings.ToUpper(name) }
