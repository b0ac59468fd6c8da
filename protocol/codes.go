package protocol

// ErrorCode is the "error" field of an error reply (WebSocket) or refusal
// body (SSE, HTTP publish).
type ErrorCode string

// Error codes. The first six are the contract's; the rest are Arenacast's.
const (
	ErrUnauthorized  ErrorCode = "unauthorized"   // bad, expired or missing token; or not allowed
	ErrNotFound      ErrorCode = "not_found"      // no such channel form
	ErrBadRequest    ErrorCode = "bad_request"    // malformed message or channel name
	ErrRateLimited   ErrorCode = "rate_limited"   // too many messages; this one was dropped
	ErrLimitExceeded ErrorCode = "limit_exceeded" // too many subscriptions
	ErrTokenExpired  ErrorCode = "token_expired"  // the token expires soon or has expired: send a fresh auth
	ErrInternal      ErrorCode = "internal_error" // the server failed; retrying may help
)

// CloseCode is a WebSocket close status in the private range. Codes
// 4000-4499 mean "reconnect with backoff"; 4500-4999 mean "do not reconnect
// until the cause changes". Standard codes the server also uses: 1001 (going
// away, never sent by Arenacast itself), 1009 (message too big).
type CloseCode int

// Close codes. Reasons are the fixed texts sent in the close frame.
const (
	CloseServerShutdown   CloseCode = 4000 // the node is stopping or restarting: reconnect, resume by id
	CloseSlowConsumer     CloseCode = 4001 // the client read too slowly and its queue filled: reconnect, resume by id
	CloseKeepaliveTimeout CloseCode = 4002 // no pong in time
	CloseTokenExpired     CloseCode = 4003 // the token expired and no fresh auth came within the grace period
	CloseAuthTimeout      CloseCode = 4004 // neither auth nor subscribe within the deadline after connecting
	CloseRateLimited      CloseCode = 4005 // the client kept flooding after rate_limited replies

	CloseAuthFailed        CloseCode = 4500 // authentication failed for good (too many failed attempts, or re-auth as another user)
	CloseProtocolViolation CloseCode = 4501 // repeated malformed messages
	CloseConnectionLimit   CloseCode = 4502 // too many connections (server-wide or for this user)
	CloseSessionRevoked    CloseCode = 4503 // the platform ended this user's sessions
)

// Reason returns the close frame's reason text for c.
func (c CloseCode) Reason() string {
	switch c {
	case CloseServerShutdown:
		return "server shutdown"
	case CloseSlowConsumer:
		return "slow consumer"
	case CloseKeepaliveTimeout:
		return "keepalive timeout"
	case CloseTokenExpired:
		return "token expired"
	case CloseAuthTimeout:
		return "authentication timeout"
	case CloseRateLimited:
		return "rate limited"
	case CloseAuthFailed:
		return "authentication failed"
	case CloseProtocolViolation:
		return "protocol violation"
	case CloseConnectionLimit:
		return "connection limit"
	case CloseSessionRevoked:
		return "session revoked"
	}
	return "closed"
}

// Reconnect reports whether a client should reconnect after c.
func (c CloseCode) Reconnect() bool { return c < 4500 }

// AllCloseCodes lists every code, for docs and tests.
var AllCloseCodes = []CloseCode{
	CloseServerShutdown, CloseSlowConsumer, CloseKeepaliveTimeout, CloseTokenExpired, CloseAuthTimeout, CloseRateLimited,
	CloseAuthFailed, CloseProtocolViolation, CloseConnectionLimit, CloseSessionRevoked,
}
