package cmd

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/nosana-ci/nosana-secrets/cmd/backup"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
	"github.com/nosana-ci/nosana-secrets/cmd/migrate"
	"github.com/nosana-ci/nosana-secrets/cmd/rekey"
	"github.com/nosana-ci/nosana-secrets/cmd/restore"
	"github.com/nosana-ci/nosana-secrets/cmd/serve"
)

// newFactory is the one factory of every verb on ios: the client verbs'
// lazy client and keypair, and BindStore, which opens the store of serve's
// settings for migrate, backup and restore (each command gets its own
// flags and viper).
func newFactory(ios *cmdutil.IOStreams) *cmdutil.Factory {
	f := cmdutil.NewFactory(ios)
	f.BindStore = func(cmd *cobra.Command) func(context.Context) (*cmdutil.Store, error) {
		v := viper.New()
		serve.Bind(v, cmd.Flags(), true)
		return func(ctx context.Context) (*cmdutil.Store, error) {
			c, err := serve.Decode(v, true)
			if err != nil {
				return nil, err
			}
			cfg := c.Store
			cfg.Create, _ = cmd.Flags().GetBool("create") // only migrate has it
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			log, closeLog := cfg.Logger(ios.ErrOut)
			store, err := serve.OpenStore(ctx, cfg, log)
			if err != nil {
				closeLog()
				return nil, err
			}
			return &cmdutil.Store{Plain: store, URI: cfg.URI, Snapshot: store.Lower().Snapshot, Close: func() {
				store.Close()
				closeLog()
			}}, nil
		}
	}
	return f
}

// storeCommands are the verbs that open the store of serve's settings
// through f.BindStore. A new one: NewCmdX(f, nil) in this list.
func storeCommands(f *cmdutil.Factory) []*cobra.Command {
	return []*cobra.Command{
		migrate.NewCmdMigrate(f, nil),
		backup.NewCmdBackup(f, nil),
		restore.NewCmdRestore(f, nil),
		rekey.NewCmdRekey(f, nil),
	}
}
