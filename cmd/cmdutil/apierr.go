package cmdutil

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nosana-ci/nosana-secrets/client"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
)

// outcome is what an API error means at the prompt: its exit code and a
// line that says what to do ("" for none).
type outcome struct {
	exit int
	hint string
}

// Hints shared by several codes (their wording predates the codes).
const (
	hintLogin    = "run 'nosana-secrets login' for a fresh token; a job token (--job) only reads the secrets its job grants"
	hintSignIn   = "check --keypair and --endpoint."
	hintJob      = "check the job address and that this keypair is the job's node (or, once it finished, its project)."
	hintGrants   = "the job's JSON lists the keys it grants (state[\"nosana/secrets\"] or secrets)"
	hintOperator = "try again later, or ask the server's operator to check its logs"
)

// byCode maps the server's stable error codes to exit codes and hints. A
// refused sign-in is 4 whatever its code, unless the code is in retryable.
var byCode = map[string]outcome{
	errcode.InvalidRequest:       {ExitFailure, ""},
	errcode.InvalidSignature:     {ExitAuth, hintSignIn},
	errcode.LoginWindow:          {ExitAuth, "check this computer's clock (it must be within a minute of the server's)."},
	errcode.WrongAudience:        {ExitAuth, "use the server's public URL as --endpoint (its PUBLIC_URL setting)."},
	errcode.NonceUsed:            {ExitAuth, "try again: every sign-in needs a fresh message."},
	errcode.LegacyLoginDisabled:  {ExitAuth, "this server takes Sign-In With Solana only: drop --legacy-login (and " + EnvLegacyLogin + ")."},
	errcode.SIWSUnavailable:      {ExitAuth, "this server predates Sign-In With Solana; if you trust it, add --legacy-login (or set " + EnvLegacyLogin + "=1)."},
	errcode.JobLoginUnavailable:  {ExitAuth, "this server is not set up for job sign-in (--job)."},
	errcode.JobRefused:           {ExitAuth, hintJob},
	errcode.KeyNotGranted:        {ExitAuth, hintGrants},
	errcode.NoGrantList:          {ExitAuth, hintGrants},
	errcode.NotAuthenticated:     {ExitAuth, hintLogin},
	errcode.TokenInvalid:         {ExitAuth, hintLogin},
	errcode.TokenExpired:         {ExitAuth, hintLogin},
	errcode.JobEnded:             {ExitAuth, "the job no longer runs on this node: a job token lives only as long as its job."},
	errcode.OwnerOnly:            {ExitAuth, "history, as-of reads and the audit log need your own sign-in, not a job token (--job)."},
	errcode.TokenScope:           {ExitAuth, "the access token ($NOSANA_SECRETS_TOKEN) does not cover this; use a token with that prefix (or --write), or your wallet."},
	errcode.TokenRevoked:         {ExitAuth, "the access token was revoked; ask its owner for a new one (nosana-secrets token create)."},
	errcode.OIDCRefused:          {ExitAuth, "check the trust's repository, ref and environment (nosana-secrets trust list) and the workflow's id-token: write permission."},
	errcode.IssuerNotAllowed:     {ExitFailure, "the server's operator lists the accepted issuers in OIDC_ISSUERS."},
	errcode.TokenNotFound:        {ExitNotFound, "'nosana-secrets token list' shows your tokens."},
	errcode.TrustNotFound:        {ExitNotFound, "'nosana-secrets trust list' shows your trusts."},
	errcode.TokensUnsupported:    {ExitFailure, "this server's store keeps no access tokens; ask its operator."},
	errcode.NotFound:             {ExitNotFound, ""},
	errcode.SecretNotFound:       {ExitNotFound, ""},
	errcode.SecretDeleted:        {ExitNotFound, "'nosana-secrets undelete KEY' brings it back."},
	errcode.VersionNotFound:      {ExitNotFound, "'nosana-secrets history KEY' lists the versions kept."},
	errcode.VersionConflict:      {ExitFailure, "nothing written; read it again (nosana-secrets history KEY) and pass its version as --cas."},
	errcode.NoRoute:              {ExitUnreachable, "is --endpoint the server's base URL (without a path)?"},
	errcode.MethodNotAllowed:     {ExitUnreachable, "is --endpoint the server's base URL (without a path)?"},
	errcode.PayloadTooLarge:      {ExitFailure, ""}, // said on the first line
	errcode.QuotaExceeded:        {ExitFailure, "delete secrets you no longer need, or ask the server's operator about its quota."},
	errcode.RateLimited:          {ExitFailure, ""}, // the wait is added from Retry-After
	errcode.Internal:             {ExitUnreachable, hintOperator},
	errcode.HistoryUnsupported:   {ExitFailure, "this server's storage backend keeps no version history; ask its operator."},
	errcode.Unavailable:          {ExitUnreachable, hintOperator},
	errcode.InvalidJobDefinition: {ExitFailure, "today's Nosana node would refuse this definition; fix it where the message says."},
	errcode.DefinitionNotFound:   {ExitNotFound, "'nosana-secrets jobdef list' shows your job definitions."},
	errcode.DefinitionUnresolved: {ExitFailure, "set the missing secrets ('nosana-secrets audit' names them)."},
}

// retryable codes keep their own exit code at sign-in.
var retryable = map[string]bool{
	errcode.RateLimited: true, errcode.Internal: true, errcode.Unavailable: true,
}

// APIError turns an error of the client into one with the exit code of
// SPEC §4 and a hint of what to do. Main applies it once to what a command
// returns. It switches on the server's error code; answers without one
// (the original server, older versions) fall back to their status:
//
//	sign-in refused (4xx but 429)           4
//	403                                     4
//	404                                     3
//	other 4xx (400, 413, 429 also at sign-in) 1
//	5xx, unreachable, timeout               5
//	not a nosana-secrets server             5
//
// Errors that already carry an exit code, and nil, pass unchanged.
func APIError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	var le *client.LoginError
	var he *client.HTTPError
	var ne *client.NetworkError
	login := errors.As(err, &le)
	switch {
	case errors.As(err, &he):
		return httpError(he, le)
	case errors.As(err, &ne):
		hint := "is the server running? Set --endpoint or " + EnvEndpoint + " to its URL."
		switch {
		case ne.Timeout():
			hint = "the server is slow or unreachable; try again later."
		case strings.Contains(ne.Err.Error(), "server gave HTTP response to HTTPS client"):
			hint = "the server speaks plain HTTP, not HTTPS: use " + withScheme(ne.Endpoint, "http") + " (or put it behind TLS)."
		case speaksTLS(ne.Endpoint):
			hint = "the server speaks HTTPS and was asked in plain HTTP: use " + withScheme(ne.Endpoint, "https") + "."
		}
		return WithCode(ExitUnreachable, fmt.Errorf("%v\n%s", err, hint))
	case login:
		return WithCode(ExitAuth, err)
	case errors.Is(err, context.Canceled):
		return WithCode(ExitFailure, errors.New("interrupted"))
	}
	return err
}

// httpError explains an error answer; le is set when it refused a sign-in.
func httpError(he *client.HTTPError, le *client.LoginError) error {
	// A proxy's 413 and 429 mean what they say; other 4xx pages come from
	// something that is not this API (a wrong path, another service).
	if !he.FromAPI() && he.Status == http.StatusBadRequest && strings.Contains(he.Message, "HTTP request to an HTTPS server") {
		return WithCode(ExitUnreachable, fmt.Errorf("the server speaks HTTPS and was asked in plain HTTP\nuse %s", withScheme(root(he.URL), "https")))
	}
	if !he.FromAPI() && he.Status < 500 && he.Status != http.StatusTooManyRequests && he.Status != http.StatusRequestEntityTooLarge {
		return WithCode(ExitUnreachable, fmt.Errorf("the server answered %d %s, which is not an answer of nosana-secrets\nis --endpoint (or %s) the URL of a nosana-secrets server?%s",
			he.Status, http.StatusText(he.Status), EnvEndpoint, rootHint(he.URL)))
	}
	if he.Code == errcode.NoRoute {
		// The API answered, so the host is right and the path is not: an
		// endpoint with /v1 or another path after the server's root.
		where := "the server"
		if he.URL != "" {
			where = root(he.URL)
		}
		return WithCode(ExitUnreachable, fmt.Errorf("%s has no such route: --endpoint is not the server's base URL%s",
			where, rootHint(he.URL)))
	}
	o, known := byCode[he.Code]
	if !known {
		o = byStatus(he, le)
	}
	if le != nil && he.Status < 500 && !retryable[he.Code] && he.Status != http.StatusTooManyRequests {
		o.exit = ExitAuth
		if o.hint == "" {
			o.hint = hintSignIn
		}
	}
	if he.Code == errcode.RateLimited || !known && he.Status == http.StatusTooManyRequests {
		wait := "a moment"
		if he.RetryAfter > 0 {
			wait = he.RetryAfter.String()
		}
		o.hint = "try again in " + wait
	}
	msg := describe(he, le)
	if o.hint != "" {
		msg += "\n" + o.hint
	}
	return WithCode(o.exit, errors.New(msg))
}

// byStatus is the outcome of an answer without a known code.
func byStatus(he *client.HTTPError, le *client.LoginError) outcome {
	switch {
	case he.Status >= 500:
		return byCode[errcode.Internal]
	case he.Status == http.StatusTooManyRequests:
		return byCode[errcode.RateLimited]
	case le != nil && le.Job != "":
		return byCode[errcode.JobRefused]
	case le != nil && he.Code == "" && !le.Legacy:
		// No code: a server older than them, so older than Sign-In With
		// Solana too (the original Nosana secret manager).
		return byCode[errcode.SIWSUnavailable]
	case le != nil:
		return outcome{ExitAuth, hintSignIn}
	case he.Status == http.StatusNotFound:
		return byCode[errcode.NotFound]
	case he.Status == http.StatusForbidden || he.Status == http.StatusUnauthorized:
		return outcome{ExitAuth, hintLogin}
	case he.Status == http.StatusRequestEntityTooLarge:
		return byCode[errcode.PayloadTooLarge]
	}
	return outcome{ExitFailure, ""}
}

// describe is the first line: what the server said, and to what.
func describe(he *client.HTTPError, le *client.LoginError) string {
	switch {
	case he.Status >= 500:
		return fmt.Sprintf("server error (%d %s): %s", he.Status, http.StatusText(he.Status), he.Message)
	case le != nil:
		return le.Error()
	case he.Status == http.StatusNotFound, he.Code == errcode.KeyNotGranted, he.Code == errcode.NoGrantList:
		return he.Message
	case he.Status == http.StatusForbidden || he.Status == http.StatusUnauthorized:
		return "not allowed: " + he.Message
	case he.Status == http.StatusTooManyRequests:
		return "rate limited by the server: " + he.Message
	case he.Status == http.StatusRequestEntityTooLarge:
		return "request too large: " + he.Message + "; store fewer or smaller secrets at a time"
	}
	return fmt.Sprintf("%s (%d)", he.Message, he.Status)
}

// apiPaths are where the routes the CLI asks for begin.
var apiPaths = []string{"/login", "/secrets", "/v1/", "/health", "/readyz"}

// root is the endpoint a request URL was made from: the URL up to the
// route the CLI asked for.
func root(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	for _, p := range apiPaths {
		if i := strings.LastIndex(u.Path, p); i >= 0 {
			u.Path = u.Path[:i]
			break
		}
	}
	u.RawPath = ""
	return strings.TrimSuffix(u.String(), "/")
}

// rootHint names the endpoint to use when the one given has a path after
// the host (the API lives at the server's root).
func rootHint(raw string) string {
	u, err := url.Parse(root(raw))
	if err != nil || u.Path == "" || u.Path == "/" {
		return ""
	}
	p := u.Path
	u.Path = ""
	return fmt.Sprintf("\nthe API is at the server's root: use --endpoint %s (without %s)", u.String(), p)
}

// withScheme is endpoint with another scheme.
func withScheme(endpoint, scheme string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return scheme + "://…"
	}
	u.Scheme, u.User = scheme, nil
	return u.String()
}

// speaksTLS reports whether an http:// endpoint whose connection failed
// after it was made (a TLS server resets a plain HTTP request with a
// body) completes a TLS handshake: one probe, on the error path only.
func speaksTLS(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return false
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", host, &tls.Config{InsecureSkipVerify: true}) // only asks whether TLS answers; nothing is sent
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
