package serve

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/server"
)

func TestHistorySettings(t *testing.T) {
	load := func(env map[string]string) (server.HistoryOptions, error) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		v := viper.New()
		Bind(v, pflag.NewFlagSet("serve", pflag.ContinueOnError), false)
		c, err := Decode(v, false)
		return c.History, err
	}
	h, err := load(nil)
	if err != nil || h.Off || h.MaxVersions != 20 || h.DeletedRetention != 30*24*time.Hour || h.AuditRetention != 90*24*time.Hour {
		t.Fatalf("defaults %+v, %v", h, err)
	}
	h, err = load(map[string]string{"HISTORY": "false", "MAX_VERSIONS": "5", "DELETED_RETENTION": "1h", "AUDIT_RETENTION": "3600"})
	if err != nil || !h.Off || h.MaxVersions != 5 || h.DeletedRetention != time.Hour || h.AuditRetention != time.Hour {
		t.Fatalf("set %+v, %v", h, err)
	}
	for k, v := range map[string]string{"HISTORY": "maybe", "MAX_VERSIONS": "0", "DELETED_RETENTION": "-1h", "AUDIT_RETENTION": "soon"} {
		t.Run(k, func(t *testing.T) {
			if _, err := load(map[string]string{k: v}); cmdutil.ExitCode(err) != 2 {
				t.Errorf("%s=%s: %v (exit %d), want a usage error", k, v, err, cmdutil.ExitCode(err))
			}
		})
	}
}
