// Package container builds the Dockerfiles with podman and runs the image:
// the user it runs as, a named volume that keeps sqlite data and its key
// across containers, a graceful stop, configuration by environment, and
// the HEALTHCHECK. Base images come from local stand-ins (.ci/container.sh
// builds them; these machines reach no registry), passed by build argument.
//
// Needs podman and NOSANA_TEST_CONTAINER_{GO,RUNTIME,BUSYBOX}_IMAGE; without
// them the tests skip, or fail when CI is set.
package container_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
)

// env names the stand-in base images.
type env struct{ goImage, runtimeImage, busyboxImage string }

func setup(t *testing.T) env {
	t.Helper()
	e := env{
		goImage:      os.Getenv("NOSANA_TEST_CONTAINER_GO_IMAGE"),
		runtimeImage: os.Getenv("NOSANA_TEST_CONTAINER_RUNTIME_IMAGE"),
		busyboxImage: os.Getenv("NOSANA_TEST_CONTAINER_BUSYBOX_IMAGE"),
	}
	_, err := exec.LookPath("podman")
	if e.goImage == "" || e.runtimeImage == "" || e.busyboxImage == "" || err != nil {
		msg := "podman or NOSANA_TEST_CONTAINER_{GO,RUNTIME,BUSYBOX}_IMAGE missing (see .ci/container.sh)"
		if ci.On() {
			t.Fatalf("%s, and CI is set: the container tests must run in CI", msg)
		}
		t.Skip(msg)
	}
	return e
}

func random(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// podman runs podman and returns its trimmed stdout, failing the test on a
// non-zero exit.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := podmanErr(args...)
	if err != nil {
		t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func podmanErr(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("podman", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s%s", err, stdout.String(), tail(stderr.String(), 4000))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func git(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", root}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// context copies the repository's files (tracked, and untracked but not
// ignored: what a developer would build) into a directory, and plants
// there what .dockerignore must keep out of any image.
func buildContext(t *testing.T, root string) (dir string, planted []string) {
	t.Helper()
	dir = t.TempDir()
	files := git(t, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	planted = []string{
		"db.sqlite", "db.sqlite.key", "db.sqlite-wal", "data/db.sqlite", "local.db", "id.json", "master.key",
		"nosana-secrets", "artifacts/screenshots/a.png", "web/node_modules/x/index.js", ".git/HEAD", "dist/x", ".env",
		"deploy/secrets/jwt_secret", "deploy/.env",
	}
	for _, p := range planted {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("must not reach the image\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, planted
}

type image struct {
	ref, version, commit string
	args                 []string // the build's flags, to build a stage of it again
}

// build builds ./Dockerfile from a copy of the repository with the
// stand-in bases. Modules come from this machine's module cache, mounted
// as a file GOPROXY.
func build(t *testing.T, e env) (img image, planted []string) {
	t.Helper()
	root := repoRoot(t)
	ctxDir, planted := buildContext(t, root)
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	img = image{
		ref:     "localhost/" + random("nosana-secrets-test:"),
		version: git(t, root, "describe", "--tags", "--always", "--dirty"),
		commit:  git(t, root, "rev-parse", "HEAD"),
	}
	img.args = []string{"build", "--format", "docker", // docker format: OCI images have no HEALTHCHECK
		"-v", filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download") + ":/goproxy:ro",
		"--build-arg", "GOPROXY=file:///goproxy",
		"--build-arg", "GO_IMAGE=" + e.goImage,
		"--build-arg", "RUNTIME_IMAGE=" + e.runtimeImage,
		"--build-arg", "TARGETOS=linux", "--build-arg", "TARGETARCH=" + runtime.GOARCH,
		"--build-arg", "VERSION=" + img.version, "--build-arg", "COMMIT=" + img.commit,
		"--build-arg", "DATE=" + git(t, root, "log", "-1", "--format=%cI"),
		ctxDir}
	start := time.Now()
	podman(t, append(img.args, "-t", img.ref)...)
	t.Logf("podman build: %s", time.Since(start).Round(time.Second))
	t.Cleanup(func() { _, _ = podmanErr("rmi", "-f", img.ref) })
	return img, planted
}

// container is a running one, with the host address of its port.
type container struct {
	name, url string
}

// run starts img detached with the volume at /data, serve on container
// port 8080 (PORT) published on a free loopback port, and env.
func run(t *testing.T, img, volume string, env ...string) container {
	t.Helper()
	hostPort := testserver.FreePort(t)
	c := container{name: random("nosana-ctr-"), url: "http://127.0.0.1:" + strconv.Itoa(hostPort)}
	args := []string{"run", "-d", "--name", c.name, "-v", volume + ":/data",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", hostPort), "-e", "PORT=8080", "-e", "PUBLIC_URL=" + c.url}
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	podman(t, append(args, img)...)
	t.Cleanup(func() { _, _ = podmanErr("rm", "-f", "-t", "0", c.name) })
	waitReady(t, c)
	return c
}

func waitReady(t *testing.T, c container) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if state, _ := podmanErr("inspect", "--format", "{{.State.Status}}", c.name); state == "exited" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("container %s not ready at %s; logs:\n%s", c.name, c.url, tail(logs(t, c.name), 4000))
}

// logs is what the container wrote; serve logs to stderr.
func logs(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("podman", "logs", name).CombinedOutput()
	if err != nil {
		t.Errorf("podman logs %s: %v", name, err)
	}
	return string(out)
}

// cli runs the host's nosana-secrets client against c.
func cli(t *testing.T, c container, keypair string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testserver.Binary(t), args...)
	cmd.Env = append(os.Environ(), "NOSANA_SECRETS_ENDPOINT="+c.url, "NOSANA_SECRETS_KEYPAIR="+keypair,
		"XDG_CONFIG_HOME="+filepath.Dir(keypair), "HOME="+filepath.Dir(keypair))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const jwt = "container-test-signing-key-of-32-bytes-or-more"

func TestImage(t *testing.T) {
	e := setup(t)
	img, planted := build(t, e)

	t.Run("metadata", func(t *testing.T) {
		var meta []struct {
			Config struct {
				User       string
				Labels     map[string]string
				StopSignal string
				Volumes    map[string]any
				WorkingDir string
			}
			Healthcheck *struct{ Test []string } // podman has it here, docker in Config
		}
		if err := json.Unmarshal([]byte(podman(t, "image", "inspect", img.ref)), &meta); err != nil || len(meta) != 1 {
			t.Fatalf("inspect: %v", err)
		}
		cfg := meta[0].Config
		if cfg.User != "65532:65532" || cfg.StopSignal != "SIGTERM" || cfg.WorkingDir != "/data" {
			t.Errorf("user %q, stop signal %q, workdir %q", cfg.User, cfg.StopSignal, cfg.WorkingDir)
		}
		if _, ok := cfg.Volumes["/data"]; !ok {
			t.Errorf("volumes %v: want /data", cfg.Volumes)
		}
		if hc := meta[0].Healthcheck; hc == nil || strings.Join(hc.Test, " ") != "CMD /usr/local/bin/nosana-secrets health" {
			t.Errorf("healthcheck %+v", hc)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.revision": img.commit,
			"org.opencontainers.image.version":  img.version,
			"org.opencontainers.image.source":   "https://github.com/nosana-ci/nosana-secrets",
			"org.opencontainers.image.title":    "nosana-secrets",
		} {
			if got := cfg.Labels[k]; got != want {
				t.Errorf("label %s = %q, want %q", k, got, want)
			}
		}
		// The binary says the version and commit it was built from.
		out := podman(t, "run", "--rm", img.ref, "version")
		if !strings.Contains(out, "nosana-secrets "+img.version+"\n") || !strings.Contains(out, "commit: "+img.commit) {
			t.Errorf("version:\n%s", out)
		}
	})

	t.Run("dockerignore", func(t *testing.T) {
		// The build stage's /src is the context as the builder saw it;
		// the build is cached, so this only names that stage.
		stage := img.ref + "-build"
		podman(t, append(img.args, "--target", "build", "-t", stage)...)
		t.Cleanup(func() { _, _ = podmanErr("rmi", "-f", stage) })
		listing := podman(t, "run", "--rm", "--entrypoint", "/bin/sh", stage, "-c",
			"cd /src && for f in "+strings.Join(planted, " ")+" go.mod main.go; do [ -e $f ] && echo $f; done; true")
		got := strings.Fields(listing)
		if strings.Join(got, " ") != "go.mod main.go" {
			t.Errorf("in the build context: %v; want only go.mod main.go of those", got)
		}
	})

	vol := random("nosana-vol-")
	podman(t, "volume", "create", vol)
	t.Cleanup(func() { _, _ = podmanErr("volume", "rm", "-f", vol) })
	keypair := filepath.Join(t.TempDir(), "id.json")
	if out, err := exec.Command(testserver.Binary(t), "keygen", "--keypair", keypair).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}

	c1 := run(t, img.ref, vol, "JWT_SECRET="+jwt, "LOG_FORMAT=json", "UI=false")
	t.Run("user", func(t *testing.T) {
		pid := podman(t, "inspect", "--format", "{{.State.Pid}}", c1.name)
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") {
				if f := strings.Fields(l); len(f) != 5 || f[1] != "65532" || f[2] != "65532" || f[3] != "65532" {
					t.Errorf("serve runs with %q, want 65532", l)
				}
			}
		}
	})
	t.Run("env", func(t *testing.T) {
		// PORT=8080 (the only port published), PUBLIC_URL (sign-in
		// names it), LOG_FORMAT=json and UI=false all took effect.
		resp, err := http.Get(c1.url + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("UI=false: /ui/ answered %d", resp.StatusCode)
		}
		log := logs(t, c1.name)
		first := strings.SplitN(log, "\n", 2)[0]
		var line map[string]any
		if err := json.Unmarshal([]byte(first), &line); err != nil {
			t.Errorf("LOG_FORMAT=json: first log line %q: %v", first, err)
		}
		if !strings.Contains(log, `"addr":"[::]:8080"`) {
			t.Errorf("PORT=8080: no listening line on 8080 in\n%s", tail(log, 2000))
		}
	})
	t.Run("healthcheck", func(t *testing.T) {
		// podman runs HEALTHCHECKs from systemd timers; without systemd,
		// `healthcheck run` runs the image's check once, as the timer would.
		if _, err := podmanErr("healthcheck", "run", c1.name); err != nil {
			t.Fatalf("healthcheck: %v", err)
		}
		if s := podman(t, "inspect", "--format", "{{.State.Health.Status}}", c1.name); s != "healthy" {
			t.Errorf("health status %q", s)
		}
		// The same probe against a port nothing serves is unhealthy (exit 1).
		_, err := podmanErr("exec", c1.name, "/usr/local/bin/nosana-secrets", "health", "--url", "http://127.0.0.1:1")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("health on a closed port: %v, want exit 1", err)
		}
	})

	if out, err := cli(t, c1, keypair, "set", "DB_PASSWORD=hunter2"); err != nil {
		t.Fatalf("set: %v %s", err, out)
	}

	t.Run("stop", func(t *testing.T) {
		start := time.Now()
		podman(t, "stop", "-t", "10", c1.name)
		took := time.Since(start)
		code := podman(t, "inspect", "--format", "{{.State.ExitCode}}", c1.name)
		log := logs(t, c1.name)
		if took >= 10*time.Second || code != "0" {
			t.Errorf("podman stop took %s, exit code %s (137 is SIGKILL)", took.Round(time.Millisecond), code)
		}
		if !strings.HasSuffix(strings.TrimSpace(log), `"msg":"stopped"}`) {
			t.Errorf("the last log line is not serve's \"stopped\":\n%s", tail(log, 1000))
		}
		t.Logf("graceful stop in %s", took.Round(time.Millisecond))
	})
	podman(t, "rm", c1.name)

	t.Run("volume", func(t *testing.T) {
		// The database and its key file are in the volume, the nonroot
		// user's, the key file private.
		mp := podman(t, "volume", "inspect", "--format", "{{.Mountpoint}}", vol)
		for _, f := range []string{"db.sqlite", "db.sqlite.key"} {
			fi, err := os.Stat(filepath.Join(mp, f))
			if err != nil {
				t.Fatalf("%s not in the volume: %v", f, err)
			}
			if st, ok := fi.Sys().(interface{ Uid() uint32 }); ok && st.Uid() != 65532 {
				t.Errorf("%s owned by %d", f, st.Uid())
			}
		}
		if fi, err := os.Stat(filepath.Join(mp, "db.sqlite.key")); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("key file mode %v", fi.Mode().Perm())
		}
		// A new container on the same volume reads the secret back:
		// data and key both persisted.
		c2 := run(t, img.ref, vol, "JWT_SECRET="+jwt)
		out, err := cli(t, c2, keypair, "get", "DB_PASSWORD")
		if err != nil || out != "hunter2" && out != "hunter2\n" {
			t.Fatalf("get after restart: %q %v", out, err)
		}
	})

	t.Run("release", func(t *testing.T) { release(t, e, img) })
}

// release builds release.Dockerfile the way goreleaser does, from a
// context holding $TARGETPLATFORM/nosana-secrets (here the binary of the
// image just built), and checks it serves and is healthy as 65532.
func release(t *testing.T, e env, img image) {
	dir := t.TempDir()
	platform := "linux/" + runtime.GOARCH
	if err := os.MkdirAll(filepath.Join(dir, platform), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "release.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	id := podman(t, "create", img.ref)
	defer func() { _, _ = podmanErr("rm", id) }()
	podman(t, "cp", id+":/usr/local/bin/nosana-secrets", filepath.Join(dir, platform, "nosana-secrets"))

	ref := img.ref + "-release"
	podman(t, "build", "--format", "docker", "-t", ref,
		"--build-arg", "BUSYBOX_IMAGE="+e.busyboxImage, "--build-arg", "RUNTIME_IMAGE="+e.runtimeImage,
		"--build-arg", "TARGETPLATFORM="+platform, dir)
	t.Cleanup(func() { _, _ = podmanErr("rmi", "-f", ref) })

	vol := random("nosana-vol-")
	podman(t, "volume", "create", vol)
	t.Cleanup(func() { _, _ = podmanErr("volume", "rm", "-f", vol) })
	c := run(t, ref, vol, "JWT_SECRET="+jwt)
	if _, err := podmanErr("healthcheck", "run", c.name); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	pid := podman(t, "inspect", "--format", "{{.State.Pid}}", c.name)
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	if !strings.Contains(string(status), "Uid:\t65532\t65532\t65532\t65532") {
		t.Errorf("release image: serve is not 65532:\n%s", status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.url+"/livez", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	podman(t, "stop", "-t", "10", c.name)
	if code := podman(t, "inspect", "--format", "{{.State.ExitCode}}", c.name); code != "0" || time.Since(start) >= 10*time.Second {
		t.Errorf("release image: stop took %s, exit %s", time.Since(start), code)
	}
}
