//go:build !windows

package run

import (
	"os"
	"os/exec"
	"syscall"
)

var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// exitCode is the command's exit code, or 128+N when signal N ended it.
func exitCode(ee *exec.ExitError) int {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if c := ee.ExitCode(); c >= 0 {
		return c
	}
	return 1
}

// envKey is the name as the OS compares it: case-sensitive here.
func envKey(name string) string { return name }
