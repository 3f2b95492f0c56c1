//go:build unix

package flock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestExclusiveAcrossProcesses locks a file here and checks that another
// process (flock(1) where installed, else a second open here) cannot.
func TestExclusiveAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.lock")
	l, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if bin, err := exec.LookPath("flock"); err == nil {
		if err := exec.Command(bin, "-n", path, "true").Run(); err == nil {
			t.Error("another process took the lock")
		}
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := TryLock(path)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v", fi.Mode().Perm())
	}
}
