package testserver

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// A setting, a CLI variable or a config location of the caller's never
// reaches a process a test starts; what the runtime needs does.
func TestEnvIsClean(t *testing.T) {
	t.Setenv("STORAGE_CONNECTION", "postgres://prod")
	t.Setenv("NOSANA_SECRETS_KEYPAIR", "/home/me/.config/solana/id.json")
	t.Setenv("XDG_CONFIG_HOME", "/home/me/.config")
	t.Setenv("HOME", "/home/me")
	env := Env(t, map[string]string{"LOG_LEVEL": "warn"})
	for _, kv := range env {
		if strings.Contains(kv, "/home/me") || strings.Contains(kv, "prod") {
			t.Errorf("%s reached the process", kv)
		}
	}
	if !slices.Contains(env, "PATH="+os.Getenv("PATH")) || !slices.Contains(env, "LOG_LEVEL=warn") {
		t.Errorf("env %q lacks PATH or the test's own LOG_LEVEL", env)
	}
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HOME="+os.TempDir()) }) {
		t.Errorf("env %q has no HOME of the test's", env)
	}
}
