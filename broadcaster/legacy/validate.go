package legacy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// validateError is a validateFilter call that gave no answer to use: the
// platform refused (Status 4xx: passed on), failed (5xx, a bad body: 502),
// or did not answer in time (504).
type validateError struct {
	Status int    // the status the adapter answers the client with
	Msg    string // what failed, safe to show (no credential, no body)
}

func (e *validateError) Error() string { return e.Msg }

// credential is what a legacy connection authenticates with, forwarded to
// the platform as it came: the ouat cookie and/or the Authorization header
// ("token ...").
type credential struct {
	ouat          string
	authorization string
}

func credentialOf(r *http.Request) credential {
	var c credential
	if ck, err := r.Cookie("ouat"); err == nil {
		c.ouat = ck.Value
	}
	c.authorization = r.Header.Get("Authorization")
	return c
}

// validation is a cached validateFilter answer.
type validation struct {
	v  Validation
	at time.Time // when the platform answered: the principal's IssuedAt
}

// validator asks the platform's validateFilter, through a short cache keyed
// by credential and filters (so a user's reconnects, and the many tabs of
// one user, cost one call per CacheTTL) and with one call in flight per key
// (a reconnect storm after a restart asks once per key, not once per
// connection).
type validator struct {
	endpoint *url.URL // <frontend>/api/user/validateFilter/
	client   *http.Client
	timeout  time.Duration
	ttl      time.Duration // <= 0: no cache
	max      int
	now      func() time.Time
	counts   *counters // the adapter's

	mu       sync.Mutex              // guards cache and inflight
	cache    map[[32]byte]validation // answers younger than ttl
	inflight map[[32]byte]*call
}

// call is one validateFilter request in flight, shared by the connections
// that wait for the same key.
type call struct {
	done chan struct{}
	res  validation
	err  error
}

func cacheKey(c credential, filters string) [32]byte {
	h := sha256.New()
	io.WriteString(h, c.ouat)
	h.Write([]byte{0})
	io.WriteString(h, c.authorization)
	h.Write([]byte{0})
	io.WriteString(h, filters)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// validate returns the platform's answer for c and filters.
func (v *validator) validate(ctx context.Context, c credential, filters string) (validation, error) {
	key := cacheKey(c, filters)
	now := v.now()
	v.mu.Lock()
	if e, ok := v.cache[key]; ok && now.Sub(e.at) < v.ttl {
		v.mu.Unlock()
		v.counts.validateReused.Add(1)
		return e, nil
	}
	if cl := v.inflight[key]; cl != nil {
		v.mu.Unlock()
		v.counts.validateReused.Add(1)
		select {
		case <-cl.done:
			return cl.res, cl.err
		case <-ctx.Done():
			return validation{}, &validateError{http.StatusGatewayTimeout, "the client left while the platform's validateFilter was asked"}
		}
	}
	cl := &call{done: make(chan struct{})}
	v.inflight[key] = cl
	v.mu.Unlock()

	// The call is not tied to the first client's request: the others
	// waiting for it must not fail because that one left.
	cctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	v.counts.validateAsked.Add(1)
	cl.res, cl.err = v.ask(cctx, c, filters)
	cancel()

	v.mu.Lock()
	delete(v.inflight, key)
	if cl.err == nil && v.ttl > 0 {
		v.storeLocked(key, cl.res)
	}
	v.mu.Unlock()
	close(cl.done)
	return cl.res, cl.err
}

// storeLocked caches an answer, first dropping expired entries, then any
// entry, when the cache is full.
func (v *validator) storeLocked(key [32]byte, res validation) {
	if len(v.cache) >= v.max {
		now := v.now()
		for k, e := range v.cache {
			if now.Sub(e.at) >= v.ttl {
				delete(v.cache, k)
			}
		}
		for k := range v.cache {
			if len(v.cache) < v.max {
				break
			}
			delete(v.cache, k)
		}
	}
	v.cache[key] = res
}

// forget drops the cached answers that name user (after
// /deauthenticate/<user>).
func (v *validator) forget(user string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, e := range v.cache {
		if e.v.User == user {
			delete(v.cache, k)
		}
	}
}

// maxValidation bounds the platform's answer.
const maxValidation = 64 << 10

// ask makes the request: GET <endpoint>?filter=<filters>, with the
// credential forwarded.
func (v *validator) ask(ctx context.Context, c credential, filters string) (validation, error) {
	u := *v.endpoint
	q := u.Query()
	q.Set("filter", filters)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return validation{}, &validateError{http.StatusInternalServerError, "building the validateFilter request failed"}
	}
	if c.ouat != "" {
		req.AddCookie(&http.Cookie{Name: "ouat", Value: c.ouat})
	}
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return validation{}, &validateError{http.StatusGatewayTimeout, fmt.Sprintf("the platform's validateFilter did not answer within %v", v.timeout)}
		}
		return validation{}, &validateError{http.StatusBadGateway, "the platform's validateFilter could not be reached"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxValidation+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return validation{}, &validateError{http.StatusGatewayTimeout, fmt.Sprintf("the platform's validateFilter did not answer within %v", v.timeout)}
	case err != nil:
		return validation{}, &validateError{http.StatusBadGateway, "reading the platform's validateFilter answer failed"}
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized ||
		resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound:
		return validation{}, &validateError{resp.StatusCode, fmt.Sprintf("the platform refused the filters (validateFilter answered HTTP %d)", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return validation{}, &validateError{http.StatusBadGateway, fmt.Sprintf("the platform's validateFilter failed (HTTP %d)", resp.StatusCode)}
	case len(body) > maxValidation:
		return validation{}, &validateError{http.StatusBadGateway, "the platform's validateFilter answer is over 64 KiB"}
	}
	var out Validation
	if err := json.Unmarshal(body, &out); err != nil {
		return validation{}, &validateError{http.StatusBadGateway, "the platform's validateFilter answer is not the expected JSON"}
	}
	return validation{v: out, at: v.now()}, nil
}
