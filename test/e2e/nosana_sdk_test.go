package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/nosana-ci/nosana-secrets/internal/ci"
	"github.com/nosana-ci/nosana-secrets/internal/testserver"
	"github.com/nosana-ci/nosana-secrets/pkg/auth/authtest"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs/jobstest"
)

// TestNosanaSDK runs test/nosana-sdk (node --test) against the real binary:
// today's node's header and validator from @nosana/sdk 0.4.69, pinned in
// its package-lock.json, with a job on the fake chain whose document is the
// placeholder the server gave. Without node and npm it skips, and fails
// under CI.
func TestNosanaSDK(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if ci.On() {
			t.Fatal("node and npm are needed for the @nosana/sdk test (test/nosana-sdk)")
		}
		t.Skip("node or npm not installed")
	}
	dir, err := filepath.Abs("../nosana-sdk")
	if err != nil {
		t.Fatal(err)
	}
	// npm and node keep caches under HOME: give them one of the test's.
	home := t.TempDir()
	npmEnv := append(os.Environ(), "HOME="+home, "npm_config_cache="+filepath.Join(home, "npm-cache"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@nosana", "sdk")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir, cmd.Env = dir, npmEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in test/nosana-sdk: %v\n%s", err, out)
		}
	}

	ch := jobstest.NewChain(t)
	srv := testserver.Start(t, ch.Config("sqlite://"+filepath.Join(t.TempDir(), "sdk.sqlite")))
	a := api{t, srv.URL}

	project, nodeW, stranger := authtest.NewWallet(), authtest.NewWallet(), authtest.NewWallet()
	tp := a.login(project)
	a.expect(a.do("POST", "/secrets", tp, `{"secrets":{"hf/token":"hf_\"quoted\"\n","DB":{"host":"db","port":5432}}}`), 200, "", "")
	const name = "train step"
	tmpl := `{"version":"0.1","type":"container","meta":{"trigger":"cli"},"ops":[{"type":"container/run","id":"run","args":{"image":"ubuntu","cmd":["sh","-c","env"],"env":{"HF_TOKEN":"%%secrets.hf/token%%","DB":"%%secrets.DB%%","PLAIN":"x"}}}]}`
	r := a.do("PUT", "/v1/job-definitions/train%20step", tp, tmpl)
	if r.status != 200 {
		t.Fatalf("put template: %d %s", r.status, r.body)
	}
	var put struct{ Placeholder json.RawMessage }
	_ = json.Unmarshal(r.body, &put)
	job := ch.PutRunning(ch.Gateway.Add(put.Placeholder), project.Addr, nodeW.Addr, 600)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "sdk.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(npmEnv,
		"NS_URL="+srv.URL,
		"NS_OWNER_TOKEN="+tp,
		"NS_JOB="+job.String(),
		"NS_NAME="+name,
		"NS_NODE_KEY="+base58.Encode(nodeW.Key),
		"NS_STRANGER_KEY="+base58.Encode(stranger.Key),
		`NS_EXPECT_ENV={"HF_TOKEN":"hf_\"quoted\"\n","DB":"{\"host\":\"db\",\"port\":5432}","PLAIN":"x"}`,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test sdk.test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
