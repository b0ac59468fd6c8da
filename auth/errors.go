package auth

import "errors"

// Reason classifies why a token was refused. The values are short, stable
// snake_case words so callers can use them as metric labels.
type Reason string

// Refusal reasons. Every *Error carries exactly one.
const (
	// ReasonMalformed: the token is not a well-formed compact JWT (bad
	// segments, bad base64, bad JSON, claims of the wrong JSON type, too long).
	ReasonMalformed Reason = "malformed"
	// ReasonSignature: the signature does not verify under the chosen key.
	ReasonSignature Reason = "signature"
	// ReasonExpired: exp is in the past (beyond the leeway).
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: nbf or iat is in the future (beyond the leeway).
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonIssuer: iss is missing or not the configured issuer.
	ReasonIssuer Reason = "issuer"
	// ReasonAudience: aud is missing or does not name the configured audience.
	ReasonAudience Reason = "audience"
	// ReasonUnknownKey: the kid names no loaded key, or there is no kid and
	// several loaded keys have the token's algorithm.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonAlgorithm: alg is none, unknown, not used by any loaded key, or
	// not the algorithm of the key the kid names.
	ReasonAlgorithm Reason = "algorithm"
	// ReasonClaims: the token verified but its claims break Arenacast's rules
	// (missing exp, bad sub, a scoreboard token used as a user token, ...).
	ReasonClaims Reason = "claims"
)

// text is the fixed, client-safe description of each reason.
func (r Reason) text() string {
	switch r {
	case ReasonMalformed:
		return "malformed token"
	case ReasonSignature:
		return "invalid token signature"
	case ReasonExpired:
		return "token expired"
	case ReasonNotYetValid:
		return "token not valid yet"
	case ReasonIssuer:
		return "wrong token issuer"
	case ReasonAudience:
		return "wrong token audience"
	case ReasonUnknownKey:
		return "unknown token key"
	case ReasonAlgorithm:
		return "token algorithm not allowed"
	case ReasonClaims:
		return "bad token claims"
	}
	return "invalid token"
}

// Error is the one error type the Verifier returns. Its text is short and
// safe to send to clients and to log: it is built only from the Reason and
// fixed details written in this package, never from the token, a key or a
// library message. Unwrap exposes the underlying cause (often one of jwt's
// sentinel errors) for errors.Is.
type Error struct {
	Reason Reason
	err    error  // the cause, for Unwrap; its text is never shown
	detail string // fixed, client-safe detail; empty when the reason says it all
}

// Error returns the client-safe text, e.g. "bad token claims: sub is not a
// valid username".
func (e *Error) Error() string {
	if e.detail == "" {
		return e.Reason.text()
	}
	return e.Reason.text() + ": " + e.detail
}

// Unwrap returns the cause, so errors.Is(err, jwt.ErrTokenExpired) works.
func (e *Error) Unwrap() error { return e.err }

// ReasonOf returns the Reason of err when err is or wraps an *Error, and ""
// otherwise.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// refuse builds an *Error with a fixed detail text.
func refuse(r Reason, detail string) *Error {
	return &Error{Reason: r, detail: detail, err: errors.New(detail)}
}
