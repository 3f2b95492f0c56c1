// Package health is `nosana-secrets health`: the probe a container's
// HEALTHCHECK runs (distroless images have no curl).
package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Options are the parsed flags of health.
type Options struct {
	IO     *cmdutil.IOStreams
	Getenv func(string) string
	// HTTPClient sends the probe; nil means a client with Timeout.
	HTTPClient *http.Client

	URL     string
	Live    bool
	Timeout time.Duration
}

// NewCmdHealth builds the command; runF replaces the work in tests.
func NewCmdHealth(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Getenv: f.Getenv, HTTPClient: f.HTTPClient}
	c := cmdutil.Verb(&cobra.Command{
		Use:   "health [--url URL] [--live]",
		Short: "Probe a server's /readyz (or /livez); exit 0 when healthy, 1 when not",
		Long: `Ask a running server whether it is ready (GET /readyz: the process answers
and its store does) or, with --live, merely alive (GET /livez). Prints one
line and exits 0 on a 200 answer, 1 on anything else or no answer.

The default URL is the loopback address of the port serve would listen on
here (LISTEN or PORT from the environment, else 4124), so a container's
HEALTHCHECK follows its configuration.`,
		Args: cmdutil.NoArgs,
	}, opts, runF, Run, nil)
	c.Flags().StringVar(&opts.URL, "url", "", "base URL of the server (default http://127.0.0.1:$PORT, from LISTEN or PORT, else 4124)")
	c.Flags().BoolVar(&opts.Live, "live", false, "probe /livez (the process) instead of /readyz (the process and its store)")
	c.Flags().DurationVar(&opts.Timeout, "timeout", 5*time.Second, "longest wait for the answer")
	return c
}

// Run probes the server and prints one line: healthy or why not.
func Run(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	base := opts.URL
	if base == "" {
		base = defaultURL(opts.getenv)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cmdutil.Usagef("--url %q is not an http:// or https:// URL", cmdutil.TerminalSafe(base, false))
	}
	if opts.Timeout <= 0 {
		return cmdutil.Usagef("--timeout must be positive, got %s", opts.Timeout)
	}
	path := "/readyz"
	if opts.Live {
		path = "/livez"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery, u.Fragment, u.User = "", "", nil
	probe := u.String()

	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, probe, nil)
	if err != nil {
		return cmdutil.Usagef("--url: %v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(opts.IO.Out, "unhealthy: %s: %s\n", probe, reason(err))
		return cmdutil.ErrSilent
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(opts.IO.Out, "unhealthy: %s answered %s\n", probe, resp.Status)
		return cmdutil.ErrSilent
	}
	_, err = fmt.Fprintf(opts.IO.Out, "healthy: %s answered %s\n", probe, resp.Status)
	return err
}

func (o *Options) getenv(k string) string {
	if o.Getenv != nil {
		return o.Getenv(k)
	}
	return os.Getenv(k)
}

// defaultURL is where serve listens by the same environment: LISTEN
// (host:port; an unspecified host means loopback) or PORT, else 4124.
func defaultURL(getenv func(string) string) string {
	host, port := "127.0.0.1", "4124"
	if p := strings.TrimSpace(getenv("PORT")); p != "" {
		port = p
	}
	if l := strings.TrimSpace(getenv("LISTEN")); l != "" {
		if h, p, err := net.SplitHostPort(l); err == nil {
			port = p
			if ip := net.ParseIP(h); h != "" && !(ip != nil && ip.IsUnspecified()) {
				host = h
			}
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// reason is a transport error in a few words, without the URL again.
func reason(err error) string {
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err
	}
	if err == context.DeadlineExceeded || strings.Contains(err.Error(), "deadline exceeded") {
		return "no answer in time"
	}
	return cmdutil.TerminalSafe(err.Error(), false)
}
