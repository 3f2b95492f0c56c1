// Package errcode holds the stable error codes of the HTTP API: the "code"
// of every error body, for programs to switch on. Messages are for people
// and may change; a code keeps its meaning once published.
package errcode

// The codes, by the status they come with.
const (
	// 400
	InvalidRequest       = "invalid_request"        // a malformed body, key, prefix or value
	InvalidSignature     = "invalid_signature"      // the signature is malformed or does not match the address and message
	LoginWindow          = "login_window"           // the sign-in's time is outside the server's window, or the message expired
	WrongAudience        = "wrong_audience"         // the sign-in message names another server (domain or URI)
	NonceUsed            = "nonce_used"             // the sign-in message's nonce was used already
	LegacyLoginDisabled  = "legacy_login_disabled"  // the server takes Sign-In With Solana messages only
	SIWSUnavailable      = "siws_unavailable"       // the server takes the legacy challenge only (no PUBLIC_URL)
	JobLoginUnavailable  = "job_login_unavailable"  // the server is not set up for job sign-in
	JobRefused           = "job_refused"            // the job checks failed: not a job, not its node or project
	KeyNotGranted        = "key_not_granted"        // a job token asked for a key its job does not grant
	NoGrantList          = "no_grant_list"          // the job's document lists no secrets at all
	IssuerNotAllowed     = "issuer_not_allowed"     // a trust names an OIDC issuer the server does not accept (OIDC_ISSUERS)
	InvalidJobDefinition = "invalid_job_definition" // a job-definition template today's node would refuse; path and reason say where and why

	// 403
	NotAuthenticated = "not_authenticated" // no token
	TokenInvalid     = "token_invalid"     // a token that is malformed or not signed by this server
	TokenExpired     = "token_expired"     // a token past its expiry: sign in again
	JobEnded         = "job_ended"         // the job token's job is no longer running on this node
	// JobRefused is also the one 403 of the node routes (/v1/jobs/:job/…):
	// any check failed; the reason is in the project's audit log.
	OwnerOnly    = "owner_only"    // history, as-of reads and the audit log need the owner's token, not a job's
	TokenScope   = "token_scope"   // an access token used outside its prefix, to write when read-only, or on an owner-only route
	TokenRevoked = "token_revoked" // the access token was revoked
	OIDCRefused  = "oidc_refused"  // an OIDC token was not exchanged: the message says why (no trust, claims, audience…)

	// 404, 405
	NotFound           = "not_found"            // the secret does not exist
	SecretNotFound     = "secret_not_found"     // v1: the secret does not exist, and no history of it is kept
	SecretDeleted      = "secret_deleted"       // v1: the secret was deleted; its versions are kept and it can be restored
	VersionNotFound    = "version_not_found"    // v1: the secret has no such version (never written, or purged)
	NoRoute            = "no_route"             // no such route
	MethodNotAllowed   = "method_not_allowed"   // the route exists, the method does not
	TokenNotFound      = "token_not_found"      // no access token of the owner has this id
	TrustNotFound      = "trust_not_found"      // no trust of the owner has this id
	DefinitionNotFound = "definition_not_found" // the owner has no job-definition template of that name

	// 409
	VersionConflict      = "version_conflict"      // v1: a check-and-set (cas) did not hold; current_version says what is stored
	DefinitionUnresolved = "definition_unresolved" // a job definition refers to a secret that does not exist (the names are in the project's audit log)

	// 413
	PayloadTooLarge = "payload_too_large" // the body is over the server's limit
	QuotaExceeded   = "quota_exceeded"    // the write would pass the owner's quota

	// 429
	RateLimited = "rate_limited" // see Retry-After

	// 500, 501, 503
	Internal           = "internal"            // a fault of the server
	HistoryUnsupported = "history_unsupported" // v1: this server's storage backend keeps no version history
	TokensUnsupported  = "tokens_unsupported"  // this server's store keeps no access tokens (no meta records)
	Unavailable        = "unavailable"         // the storage, the Solana RPC or the IPFS gateway did not answer
)
