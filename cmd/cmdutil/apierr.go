package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nosana-ci/nosana-secrets/client"
)

// APIError turns an error of the client into one with the exit code of
// SPEC §4 and a hint of what to do:
//
//	sign-in refused (4xx but 429)           4
//	403 (after one fresh sign-in)           4
//	404                                     3
//	other 4xx (400, 413, 429 also at sign-in) 1
//	5xx, unreachable, timeout, not the API  5
//
// Errors that already carry a code, and nil, pass unchanged.
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
	switch {
	case errors.As(err, &ne):
		hint := "is the server running? Set --endpoint or " + EnvEndpoint + " to its URL."
		if ne.Timeout() {
			hint = "the server is slow or unreachable; try again later."
		}
		return WithCode(ExitUnreachable, fmt.Errorf("%v\n%s", err, hint))
	case errors.As(err, &le) && errors.As(err, &he) && he.Status < 500 && he.Status != http.StatusTooManyRequests:
		return WithCode(ExitAuth, fmt.Errorf("%v\n%s", err, loginHint(he)))
	case errors.As(err, &le) && he == nil:
		return WithCode(ExitAuth, err)
	case errors.As(err, &he):
		return httpError(he)
	case errors.Is(err, context.Canceled):
		return WithCode(ExitFailure, errors.New("interrupted"))
	}
	return err
}

func loginHint(he *client.HTTPError) string {
	msg := strings.ToLower(he.Message)
	switch {
	case strings.Contains(msg, "not available") || strings.Contains(msg, "timestamp is required"):
		return "this server predates Sign-In With Solana; if you trust it, add --legacy-login (or set " + EnvLegacyLogin + "=1)."
	case strings.Contains(msg, "window") || strings.Contains(msg, "expired") || strings.Contains(msg, "clock"):
		return "check this computer's clock (it must be within a minute of the server's)."
	case strings.Contains(msg, "sign-in message is for") || strings.Contains(msg, "uri"):
		return "use the server's public URL as --endpoint (its PUBLIC_URL setting)."
	case strings.Contains(msg, "job"):
		return "check the job address and that this keypair is the job's node (or, once it finished, its project)."
	}
	return "check --keypair and --endpoint."
}

func httpError(he *client.HTTPError) error {
	switch {
	case he.Status == http.StatusNotFound:
		return WithCode(ExitNotFound, errors.New(he.Message))
	case he.Status == http.StatusForbidden || he.Status == http.StatusUnauthorized:
		return WithCode(ExitAuth, fmt.Errorf("not allowed: %s\nrun 'nosana-secrets login' for a fresh token; a job token (--job) only reads the secrets its job grants", he.Message))
	case he.Status == http.StatusTooManyRequests:
		wait := "a moment"
		if he.RetryAfter > 0 {
			wait = he.RetryAfter.String()
		}
		return WithCode(ExitFailure, fmt.Errorf("rate limited by the server: %s\ntry again in %s", he.Message, wait))
	case he.Status == http.StatusRequestEntityTooLarge:
		return WithCode(ExitFailure, fmt.Errorf("request too large: %s; store fewer or smaller secrets at a time", he.Message))
	case he.Status >= 500:
		return WithCode(ExitUnreachable, fmt.Errorf("server error (%d %s): %s\ntry again later, or ask the server's operator to check its logs", he.Status, http.StatusText(he.Status), he.Message))
	}
	return WithCode(ExitFailure, fmt.Errorf("%s (%d)", he.Message, he.Status))
}
