package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nosana-ci/nosana-secrets/pkg/auth"
	"github.com/nosana-ci/nosana-secrets/pkg/errcode"
	"github.com/nosana-ci/nosana-secrets/pkg/jobs"
	"github.com/nosana-ci/nosana-secrets/pkg/solana"
)

// jobTimeout bounds the chain and IPFS lookups of one job login.
const jobTimeout = 15 * time.Second

// login answers POST /login: a legacy challenge or a Sign-In With Solana
// message, optionally with a job for a job-scoped token.
func (s *Server) login(c echo.Context) error {
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	req, err := auth.ParseLoginRequest(body)
	if err != nil {
		return err
	}
	var job solana.PublicKey
	if req.Job != "" {
		if job, err = jobs.ParseJob(req.Job); err != nil {
			return badRequest("%s", err.Error())
		}
	}
	var caller ed25519.PublicKey
	if req.Message != "" {
		caller, err = s.verifySIWS(c.Request().Context(), req)
	} else if s.legacyOff {
		err = badRequest("legacy login (timestamp) is turned off on this server; sign in with a Sign-In With Solana message").withCode(errcode.LegacyLoginDisabled)
	} else {
		caller, err = auth.VerifyLegacy(req, s.now(), s.loginWindow)
	}
	if err != nil {
		return err
	}
	if err := s.countLogin(c, req); err != nil {
		return err
	}

	claims := auth.Claims{Address: req.Address}
	var notAfter time.Time
	if req.Job != "" {
		g, err := s.grantJob(c.Request().Context(), job, solana.PublicKeyFromBytes(caller))
		if err != nil {
			return err
		}
		claims.UserAddress, claims.Secrets, claims.Job, claims.Running = g.UserAddress, g.Secrets, g.Job, g.Running
		claims.NoGrantList = g.NoList
		notAfter = g.Deadline
	}
	tok, _, err := s.tokens.Issue(claims, notAfter)
	if err != nil {
		return err
	}
	s.recordLogin(c, claims)
	return c.JSON(http.StatusOK, map[string]string{"token": tok})
}

// countLogin counts a verified login against its wallet's limit. Only a
// good signature counts, so nobody can lock a wallet out by sending bad
// logins in its name; and a legacy signature counts once, however often it
// is presented inside its window, so a captured body replayed cannot either.
// (SIWS messages are single-use already.)
func (s *Server) countLogin(c echo.Context, req auth.LoginRequest) error {
	if s.limits.LoginAddress <= 0 || s.limits.Limiter == nil {
		return nil
	}
	if req.Timestamp != "" {
		fresh, err := s.store.UseNonce(c.Request().Context(), auth.LegacyKey(req), auth.LegacyExpiry(req.Timestamp, s.loginWindow))
		if err != nil {
			return err
		}
		if !fresh {
			return nil
		}
	}
	return s.allow(c, "login:addr:"+req.Address, s.limits.LoginAddress, "logins for this wallet")
}

// verifySIWS checks a message against every accepted audience, then burns
// its nonce so the same message is refused at this and every other replica.
func (s *Server) verifySIWS(ctx context.Context, req auth.LoginRequest) (ed25519.PublicKey, error) {
	m, key, err := auth.VerifySIWS(req, s.audiences, s.now(), s.loginWindow)
	if err != nil {
		return nil, err
	}
	fresh, err := s.store.UseNonce(ctx, auth.NonceKey(req.Address, m.Nonce), auth.NonceExpiry(m, s.loginWindow))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, badRequest("this sign-in message was used already; sign a new one with a fresh nonce").withCode(errcode.NonceUsed)
	}
	return key, nil
}

// grantJob applies the job rules; a refusal is 400 (or 503 when the chain
// or IPFS cannot be asked), never a token.
func (s *Server) grantJob(ctx context.Context, job, caller solana.PublicKey) (jobs.Grant, error) {
	if s.jobs == nil {
		return jobs.Grant{}, badRequest("job-scoped login is not configured on this server").withCode(errcode.JobLoginUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, jobTimeout)
	defer cancel()
	g, err := s.jobs.Grant(ctx, job, caller)
	if err != nil {
		return jobs.Grant{}, jobError(job, err)
	}
	return g, nil
}

// jobError maps a jobs error to its answer; unavailability is 503 with a
// message that does not leak the RPC or gateway URL.
func jobError(job solana.PublicKey, err error) error {
	var je *jobs.Error
	if errors.As(err, &je) {
		switch je.Class {
		case jobs.BadRequest:
			return badRequest("%s", je.Message).withCode(errcode.JobRefused)
		case jobs.Ended:
			return forbidden(je.Message).withCode(errcode.JobEnded)
		}
	}
	return unavailable("could not check job "+job.String()+": the Solana RPC or the IPFS gateway did not answer; try again", err)
}

// checkJobToken re-checks a running job's token before a read: once the job
// is finished, stopped or runs on another node, the token reads nothing.
func (s *Server) checkJobToken(c echo.Context, cl *auth.Claims) error {
	if !cl.Running || cl.Job == "" || s.jobs == nil {
		return nil
	}
	jk, nk := cl.JobKey(), cl.AddressKey() // decoded once per token
	if jk == nil || nk == nil {
		return forbidden("token names a malformed job or address")
	}
	job, node := solana.PublicKeyFromBytes(jk), solana.PublicKeyFromBytes(nk)
	ctx, cancel := context.WithTimeout(c.Request().Context(), jobTimeout)
	defer cancel()
	if err := s.jobs.StillValid(ctx, job, node); err != nil {
		return jobError(job, err)
	}
	return nil
}
