package auth

import (
	"crypto/sha256"
	"errors"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultLeeway is the clock skew allowed on exp, nbf and iat when
// VerifierOptions.Leeway is zero.
const DefaultLeeway = 30 * time.Second

// maxTokenLen bounds the tokens Verify parses, so a hostile client cannot
// make the server decode megabytes of base64 and JSON. Real tokens are a few
// hundred bytes; the WebSocket message limit (4 KiB) is lower still.
const maxTokenLen = 16 << 10

// VerifierOptions configures NewVerifier.
type VerifierOptions struct {
	// Keys are the verification keys. Required and non-empty. NewVerifier
	// takes a snapshot, so keys added to the set later are not used.
	Keys *KeySet
	// Issuer, when non-empty, must equal the token's iss (a token without
	// iss is refused).
	Issuer string
	// Audience, when non-empty, must be among the token's aud (a token
	// without aud is refused).
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat. Defaults to
	// DefaultLeeway (30 s) when zero; negative is an error.
	Leeway time.Duration
	// Now returns the current time. Defaults to time.Now; tests inject a
	// fixed clock.
	Now func() time.Time
}

// Verifier checks tokens offline against a fixed key set. It is safe for
// concurrent use.
type Verifier struct {
	keys    *KeySet
	allowed map[string]bool  // algorithms of the loaded keys
	byAlg   map[string][]any // key material by algorithm, for tokens without kid
	issuer  string
	aud     string
	parser  *jwt.Parser // read-only after construction
	now     func() time.Time

	// publishers are the publisher tokens VerifyPublisher accepted.
	publishers publisherCache
	// users are the user tokens Verify accepted.
	users userCache
}

// NewVerifier returns a Verifier for o, applying defaults. It fails when
// there are no keys or the leeway is negative.
func NewVerifier(o VerifierOptions) (*Verifier, error) {
	if o.Keys == nil || o.Keys.Len() == 0 {
		return nil, errors.New("auth: new verifier: no verification keys")
	}
	if o.Leeway < 0 {
		return nil, errors.New("auth: new verifier: leeway must not be negative")
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	keys := o.Keys.clone()
	algs := keys.algorithms()
	v := &Verifier{
		keys:       keys,
		allowed:    make(map[string]bool, len(algs)),
		byAlg:      make(map[string][]any, len(algs)),
		issuer:     o.Issuer,
		aud:        o.Audience,
		now:        o.Now,
		publishers: publisherCache{max: publisherCacheMax},
		users:      userCache{max: userCacheMax},
	}
	for _, a := range algs {
		v.allowed[a] = true
	}
	for _, k := range keys.keys {
		v.byAlg[k.alg] = append(v.byAlg[k.alg], k.key)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		// One encoding per token: without it the spare bits of a
		// signature's last base64 character give every token several
		// accepted spellings (16 for EdDSA), each a cache entry of its own.
		jwt.WithStrictDecoding(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(o.Now),
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks a user token and returns its Principal. The token must be
// signed by a loaded key with that key's algorithm, be within its validity
// window, carry a valid sub and valid names in every grant list, and carry no
// scoreboard claim. Every refusal is an *Error.
//
// It remembers the tokens it accepted, until their exp and for at most
// UserCacheTTL, so a client that reconnects (a network drop, a proxy
// restart, an SSE stream's lifetime) with the same token is not verified
// again: an EdDSA check is ~70 us, a reconnect storm thousands a second.
// Only accepted tokens are remembered, by their SHA-256, at most
// userCacheMax of them; a refusal is worked out anew every time. Nothing
// checked here changes with time but the validity window: a token accepted
// now (nbf and iat already within the leeway) stays acceptable until its exp,
// the entry's deadline at the latest. Revocations are the caller's check,
// done on every use.
func (v *Verifier) Verify(token string) (*Principal, error) {
	if len(token) > maxTokenLen {
		return v.verify(token) // refused, without hashing what a hostile client sent
	}
	now := v.now().Round(0) // the wall clock, as jwt reads it
	key := sha256.Sum256([]byte(token))
	if p := v.users.get(key, now); p != nil {
		return p, nil
	}
	p, err := v.verify(token)
	if err != nil {
		return nil, err
	}
	until := now.Add(UserCacheTTL)
	if p.Expires.Before(until) {
		until = p.Expires
	}
	v.users.put(key, p, until, now)
	return p, nil
}

// verify is Verify without its cache: the signature and every claim checked.
func (v *Verifier) verify(token string) (*Principal, error) {
	c, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if e := c.validateUser(); e != nil {
		return nil, e
	}
	return newPrincipal(c), nil
}

// VerifyPublisher is Verify for a publisher's token (POST /publish,
// /revoke, the omegaUp adapter's /broadcast/): it also refuses a token
// without the publish claim (ReasonClaims), and it remembers the tokens it
// accepted, until their exp and for at most PublisherCacheTTL, so a
// publisher sending a request per batch is not verified again each time (an
// EdDSA verify is ~50 us; a publisher sends hundreds of requests a second
// under load). Only accepted tokens are remembered, at most
// publisherCacheMax of them; a refusal is worked out anew every time.
func (v *Verifier) VerifyPublisher(token string) (*Principal, error) {
	now := v.now().Round(0) // the wall clock, as jwt reads it
	if p := v.publishers.get(token, now); p != nil {
		return p, nil
	}
	p, err := v.verify(token) // its own cache, not Verify's, so PublisherCacheTTL holds
	if err != nil {
		return nil, err
	}
	if !p.Publish {
		return nil, refuse(ReasonClaims, `the token has no "publish":true claim`)
	}
	until := now.Add(PublisherCacheTTL)
	if p.Expires.Before(until) {
		until = p.Expires
	}
	v.publishers.put(token, p, until, now)
	return p, nil
}

// VerifyScoreboard checks a scoreboard token (the <token> of
// /scoreboard/<token>) and returns the contest alias it grants and its
// expiry. A user token is refused here, as a scoreboard token is by Verify.
// Every refusal is an *Error.
func (v *Verifier) VerifyScoreboard(token string) (contest string, expires time.Time, err error) {
	c, err := v.parse(token)
	if err != nil {
		return "", time.Time{}, err
	}
	if e := c.validateScoreboard(); e != nil {
		return "", time.Time{}, e
	}
	return c.Scoreboard, c.ExpiresAt.Time, nil
}

// parse checks the signature and the registered claims and returns the
// claims. Errors are always *Error.
func (v *Verifier) parse(token string) (*Claims, error) {
	if token == "" {
		return nil, refuse(ReasonMalformed, "empty token")
	}
	if len(token) > maxTokenLen {
		return nil, refuse(ReasonMalformed, "token too long")
	}
	var c Claims
	tok, err := v.parser.ParseWithClaims(token, &c, v.keyFor)
	if err != nil {
		return nil, v.classify(tok, &c, err)
	}
	return &c, nil
}

// keyFor is the jwt key function. It picks the key by the header's kid and
// refuses when the token's alg is not that key's algorithm: this is what
// keeps an HS256 token "signed" with a public key's bytes from verifying.
// jwt has already checked that alg is one of the loaded keys' algorithms.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	raw, hasKid := t.Header["kid"]
	if hasKid {
		kid, ok := raw.(string)
		if !ok {
			return nil, refuse(ReasonMalformed, "kid header is not a string")
		}
		k, ok := v.keys.keys[kid]
		if !ok {
			return nil, refuse(ReasonUnknownKey, "kid names no loaded key")
		}
		if k.alg != alg {
			return nil, refuse(ReasonAlgorithm, "alg is not the algorithm of the key named by kid")
		}
		return k.key, nil
	}
	keys := v.byAlg[alg]
	switch n := len(keys); {
	case n == 1:
		return keys[0], nil
	case n == 0: // unreachable while WithValidMethods lists only loaded algorithms
		return nil, refuse(ReasonAlgorithm, "no key has the token's algorithm")
	case n > maxKidlessKeys:
		return nil, refuse(ReasonUnknownKey, "token has no kid and too many keys have its algorithm")
	}
	// No kid, several keys of its algorithm (a rotation): each is tried,
	// so scoreboard links minted without kid survive it.
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k
	}
	return set, nil
}

// maxKidlessKeys bounds the keys a token without kid is tried against, so
// a forged one costs at most that many signature checks. Two are loaded
// during a rotation.
const maxKidlessKeys = 4

// classify maps an error from jwt's parser to an *Error. An *Error from
// keyFor travels through jwt wrapped and is returned as is. The order
// matters: jwt joins several claim errors into one, and reports a disallowed
// algorithm as an invalid signature.
func (v *Verifier) classify(tok *jwt.Token, c *Claims, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	wrap := func(r Reason) *Error { return &Error{Reason: r, err: err} }
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return wrap(ReasonMalformed)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Not from keyFor (handled above), so alg is missing or unknown to jwt.
		return wrap(ReasonAlgorithm)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil && !v.allowed[tok.Method.Alg()] {
			return wrap(ReasonAlgorithm) // alg none, or no loaded key uses alg
		}
		return wrap(ReasonSignature)
	case errors.Is(err, jwt.ErrTokenExpired):
		return wrap(ReasonExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return wrap(ReasonNotYetValid)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return wrap(ReasonIssuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return wrap(ReasonAudience)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// jwt names the missing claim only in its message; look at the
		// (signature-checked) claims instead.
		switch {
		case v.issuer != "" && c.Issuer == "":
			return &Error{Reason: ReasonIssuer, err: err, detail: "iss is missing"}
		case v.aud != "" && !slices.ContainsFunc(c.Audience, func(a string) bool { return a != "" }):
			return &Error{Reason: ReasonAudience, err: err, detail: "aud is missing"}
		case c.ExpiresAt == nil:
			return &Error{Reason: ReasonClaims, err: err, detail: "exp is missing"}
		}
		return wrap(ReasonClaims)
	case errors.Is(err, jwt.ErrTokenInvalidClaims), errors.Is(err, jwt.ErrInvalidType):
		return wrap(ReasonClaims)
	}
	return wrap(ReasonMalformed)
}
