package login

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/cmd/cmdutil"
)

// Environment of login --oidc.
const (
	EnvOwner = "NOSANA_SECRETS_OWNER"
	// GitHub Actions sets these in a job with id-token: write.
	envRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	envRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
	envGitHubEnv    = "GITHUB_ENV"
)

// runOIDC fetches the workflow's ID token for the endpoint, exchanges it,
// and hands the access token on: to $GITHUB_ENV (masked) inside Actions,
// else to stdout. Neither token is ever in an error message.
func runOIDC(ctx context.Context, opts *Options) error {
	reqURL, reqTok := opts.Getenv(envRequestURL), opts.Getenv(envRequestToken)
	if reqURL == "" || reqTok == "" {
		return cmdutil.WithCode(cmdutil.ExitAuth, fmt.Errorf("login --oidc runs inside GitHub Actions, in a job with 'permissions: id-token: write' (%s is not set)", envRequestURL))
	}
	endpoint := strings.TrimSuffix(opts.Endpoint(), "/")
	hc := opts.HTTPClient
	if hc == nil {
		hc = client.NewHTTPClient(30 * time.Second)
	}
	idToken, err := fetchIDToken(ctx, hc, reqURL, reqTok, endpoint)
	if err != nil {
		return cmdutil.WithCode(cmdutil.ExitAuth, err)
	}
	c, err := client.New(client.Config{Endpoint: endpoint, HTTPClient: opts.HTTPClient})
	if err != nil {
		return cmdutil.Usagef("%v; set --endpoint or %s", err, cmdutil.EnvEndpoint)
	}
	t, err := c.ExchangeOIDC(ctx, opts.Owner, idToken)
	if err != nil {
		return err
	}
	if path := opts.Getenv(envGitHubEnv); path != "" {
		// The workflow command hides the token in every later log line.
		if _, err := fmt.Fprintf(opts.IO.Out, "::add-mask::%s\n", t.Token); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("write $%s: %w", envGitHubEnv, err)
		}
		_, werr := fmt.Fprintf(f, "%s=%s\n", cmdutil.EnvToken, t.Token)
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return fmt.Errorf("write $%s: %w", envGitHubEnv, werr)
		}
		opts.IO.Infof("Signed in through OIDC: the job's next steps read secrets with %s (%s under %q, until %s).",
			cmdutil.EnvToken, cmdutil.Access(t.Write), t.Prefix, t.ExpiresAt.UTC().Format(time.RFC3339))
		return nil
	}
	_, err = fmt.Fprintln(opts.IO.Out, t.Token)
	return err
}

// fetchIDToken asks GitHub's token service for the job's ID token.
func fetchIDToken(ctx context.Context, hc *http.Client, reqURL, reqTok, audience string) (string, error) {
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL", envRequestURL)
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+reqTok)
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("asking GitHub for the workflow's OIDC token: %v", redact(err, reqTok))
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GitHub answered %d to the OIDC token request; does the job have 'permissions: id-token: write'?", res.StatusCode)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", fmt.Errorf("GitHub's OIDC token answer holds no token")
	}
	return v.Value, nil
}

func redact(err error, secret string) string {
	return strings.ReplaceAll(err.Error(), secret, "…")
}
