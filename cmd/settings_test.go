package cmd

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// TestREADMEDocumentsEverySetting keeps the README's configuration table
// true: every environment variable serve or rekey reads is in it.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(storeSettings, serveSettings...) {
		if !strings.Contains(string(readme), "`"+s.env+"`") {
			t.Errorf("README.md does not document %s", s.env)
		}
	}
}

// TestFlagsWinOverEnvironment: SPEC §3 — every setting comes from its
// environment variable, and a flag set on the command line wins.
func TestFlagsWinOverEnvironment(t *testing.T) {
	t.Setenv("LOGIN_WINDOW", "90")
	t.Setenv("SOLANA_NETWORK", "devnet")
	t.Setenv("PORT", "5000")
	v := viper.New()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	bindSettings(v, fs, storeSettings)
	bindSettings(v, fs, serveSettings)
	if err := fs.Parse([]string{"--port", "6000"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadServeConfig(v)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":6000" {
		t.Errorf("listen %q: the flag should win over PORT", cfg.Listen)
	}
	if cfg.LoginWindow.Seconds() != 90 || cfg.Solana.Network != "devnet" {
		t.Errorf("env not read: window %v network %q", cfg.LoginWindow, cfg.Solana.Network)
	}
	if cfg.Solana.JobsProgram.String() != "nosJTmGQxvwXy23vng5UjkTbfv91Bzf9jEuro78dAGR" {
		t.Errorf("devnet program %s", cfg.Solana.JobsProgram)
	}
}
