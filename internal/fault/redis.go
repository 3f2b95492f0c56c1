package fault

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
)

// Redis is a redis-server of a test's own on a free loopback port (keeping
// nothing on disk), for tests that hang, stop or restart their store. It is
// killed when the test ends.
type Redis struct {
	Addr string // 127.0.0.1:port
	t    testing.TB
	bin  string
	port string
	cmd  *exec.Cmd
}

// StartRedis starts one and waits until it listens. Without redis-server
// the test is skipped, or fails under CI.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if ci.On() {
			t.Fatal("redis-server is not installed, and CI is set")
		}
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	r := &Redis{Addr: "127.0.0.1:" + port, t: t, bin: bin, port: port}
	t.Cleanup(r.kill)
	r.Start()
	return r
}

// URI is the redis:// URI of database db.
func (r *Redis) URI(db int) string { return "redis://" + r.Addr + "/" + strconv.Itoa(db) }

// Start starts the server again on its port (after Stop) and waits until
// it listens.
func (r *Redis) Start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--bind", "127.0.0.1", "--port", r.port, "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", r.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s does not listen: %v", r.Addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the server to listen
	}
}

// Stop shuts the server down as an operator would (SIGINT) and waits.
func (r *Redis) Stop() {
	_ = r.cmd.Process.Signal(os.Interrupt)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Freeze stops the process (SIGSTOP): connections stay open, nothing answers.
func (r *Redis) Freeze() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw lets a frozen server run again.
func (r *Redis) Thaw() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

func (r *Redis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT)
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}
