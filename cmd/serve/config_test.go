package serve

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// readmeSettings are the variables the README's configuration table (the
// one under "Running the server") names in its first column.
func readmeSettings(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Running the server")
	if !ok {
		t.Fatal("README has no Running the server section")
	}
	var out []string
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break // the end of the first table
			}
			continue
		}
		inTable = true
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestREADMEDocumentsEverySetting keeps the README's configuration table
// and Settings in step, both ways.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	documented := readmeSettings(t)
	for _, env := range Env() {
		if !slices.Contains(documented, env) {
			t.Errorf("README.md's configuration table does not document %s", env)
		}
	}
	for _, env := range documented {
		if !slices.Contains(Env(), env) {
			t.Errorf("README.md documents %s, which serve does not read", env)
		}
	}
	if len(documented) < 20 {
		t.Fatalf("found only %d settings in the README table: %q", len(documented), documented)
	}
}

func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	v := viper.New()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Bind(v, fs, false)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := Decode(v, false)
	if err == nil {
		err = cfg.Validate()
	}
	return cfg, err
}

// TestFlagsWinOverEnvironment: SPEC §3 — every setting comes from its
// environment variable, and a flag set on the command line wins.
func TestFlagsWinOverEnvironment(t *testing.T) {
	t.Setenv("LOGIN_WINDOW", "90")
	t.Setenv("SOLANA_NETWORK", "devnet")
	t.Setenv("PORT", "5000")
	cfg, err := load(t, "--port", "6000")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.listenAddr() != ":6000" {
		t.Errorf("listen %q: the flag should win over PORT", cfg.listenAddr())
	}
	if cfg.LoginWindow.Seconds() != 90 || cfg.Solana.Network != "devnet" {
		t.Errorf("env not read: window %v network %q", cfg.LoginWindow, cfg.Solana.Network)
	}
	if cfg.Solana.JobsProgram.String() != "nosJTmGQxvwXy23vng5UjkTbfv91Bzf9jEuro78dAGR" {
		t.Errorf("devnet program %s", cfg.Solana.JobsProgram)
	}
}

// TestDefaults: with nothing set, each field holds the default its
// Setting documents, typed.
func TestDefaults(t *testing.T) {
	for _, env := range Env() {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 4124 || !cfg.LegacyLogin || !cfg.IPFSVerify || cfg.LoginWindow != time.Minute ||
		cfg.JobRecheck != 15*time.Second || cfg.Limits.LoginIP != 300 || cfg.Limits.SecretsAddress != 3000 ||
		cfg.LimitSync != 250*time.Millisecond || cfg.BodyLimit != 1<<20 || cfg.ShutdownTimeout != 30*time.Second ||
		cfg.Store.URI != "sqlite://db.sqlite" || len(cfg.Store.MasterKeys) != 0 || len(cfg.JWTSecret) != 0 || cfg.Store.RedisWaitReplicas != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
}

// TestInvalidSettings: each bad value is a usage error naming its variable.
func TestInvalidSettings(t *testing.T) {
	for env, val := range map[string]string{
		"PORT": "70000", "LEGACY_LOGIN": "maybe", "LOGIN_WINDOW": "soon", "JOB_RECHECK": "1m",
		"RATE_LIMIT_LOGIN_IP": "-1", "RATE_LIMIT_SYNC": "-1s", "TRUSTED_PROXIES": "10.0.0.0",
		"BODY_LIMIT": "100", "LOG_LEVEL": "loud", "LOG_FORMAT": "xml", "IPFS_VERIFY": "sometimes",
		"STORAGE_CONNECTION": " ", "MASTER_KEY": "c2hvcnQ=", "REDIS_WAIT_REPLICAS": "-1",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, val)
			_, err := load(t)
			if err == nil || !strings.Contains(err.Error(), env) {
				t.Errorf("%s=%q: %v", env, val, err)
			}
		})
	}
}

// TestDevIgnoresStorageAndKeys: --dev reads no configured store or key.
func TestDevIgnoresStorageAndKeys(t *testing.T) {
	t.Setenv("STORAGE_CONNECTION", "postgres://nowhere.invalid/db")
	t.Setenv("MASTER_KEY_FILE", "/nonexistent")
	t.Setenv("JWT_SECRET_FILE", "/nonexistent")
	v := viper.New()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Bind(v, fs, false)
	cfg, err := Decode(v, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dev = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Store.URI != "memory://" || len(cfg.JWTSecret) != 32 || cfg.listenAddr() != "127.0.0.1:4124" {
		t.Errorf("dev config: %q %d %q", cfg.Store.URI, len(cfg.JWTSecret), cfg.listenAddr())
	}
}

// TestQuotaSettings: issue 8 item 5's defaults, sizes with units, 0 off.
func TestQuotaSettings(t *testing.T) {
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Quota.Secrets != 10000 || cfg.Quota.Bytes != 64<<20 {
		t.Errorf("default quota %+v, want 10000 keys and 67108864 bytes", cfg.Quota)
	}
	for _, tt := range []struct {
		secrets, bytes string
		want           [2]int64
	}{
		{"5", "1MiB", [2]int64{5, 1 << 20}},
		{"0", "0", [2]int64{0, 0}},
		{"10", "2048", [2]int64{10, 2048}},
	} {
		t.Setenv("QUOTA_SECRETS", tt.secrets)
		t.Setenv("QUOTA_BYTES", tt.bytes)
		cfg, err := load(t)
		if err != nil || cfg.Quota.Secrets != tt.want[0] || cfg.Quota.Bytes != tt.want[1] {
			t.Errorf("QUOTA_SECRETS=%s QUOTA_BYTES=%s: %+v, %v", tt.secrets, tt.bytes, cfg.Quota, err)
		}
	}
	for _, bad := range [][2]string{{"-1", "1"}, {"many", "1"}, {"1", "-5"}, {"1", "lots"}} {
		t.Setenv("QUOTA_SECRETS", bad[0])
		t.Setenv("QUOTA_BYTES", bad[1])
		if _, err := load(t); err == nil || !strings.Contains(err.Error(), "QUOTA_") {
			t.Errorf("QUOTA_SECRETS=%s QUOTA_BYTES=%s accepted: %v", bad[0], bad[1], err)
		}
	}
}

// TestTypedFlags: a bool flag alone means true and never swallows the
// next argument; =false works; an int flag refuses a word; help names
// each flag's kind (issue 21, finding 8).
func TestTypedFlags(t *testing.T) {
	cfg, err := load(t, "--legacy-login", "--storage-connection", "memory://", "--ipfs-verify=false")
	if err != nil || !cfg.LegacyLogin || cfg.Store.URI != "memory://" || cfg.IPFSVerify {
		t.Errorf("--legacy-login --storage-connection memory:// --ipfs-verify=false: %+v, %v", cfg.Store.URI, err)
	}
	cfg, err = load(t, "--legacy-login=false")
	if err != nil || cfg.LegacyLogin {
		t.Errorf("--legacy-login=false: legacy %v, %v", cfg.LegacyLogin, err)
	}
	for _, bad := range [][]string{{"--port", "http"}, {"--legacy-login=maybe"}, {"--max-versions", "many"}} {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		Bind(viper.New(), fs, false)
		if err := fs.Parse(bad); err == nil {
			t.Errorf("%v parsed", bad)
		}
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	Bind(viper.New(), fs, false)
	usage := fs.FlagUsages()
	for _, want := range []string{"--port int", "--rate-limit-window duration", "--quota-bytes size", "--storage-connection string"} {
		if !strings.Contains(usage, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(usage, "--legacy-login string") || strings.Contains(usage, "--legacy-login bool") {
		t.Error("help shows --legacy-login as taking a value")
	}
}
