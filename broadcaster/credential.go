package broadcaster

import (
	"net/http"
)

// publisherRefusal is the message of the 401 that POST /publish and POST
// /revoke answer a request publisherAllowed refused: that a credential is
// required when none was given, else that the given one was refused and
// why (never quoting it). It runs only on refusals.
func (s *Server) publisherRefusal(r *http.Request) string {
	tok, ok := bearer(r)
	if !ok {
		return `a publisher credential is required: Authorization: Bearer <a token with "publish":true, or the publish key>`
	}
	p, err := s.opts.Verifier.Verify(tok)
	switch {
	case err != nil:
		return "the publisher credential was refused: it is not the publish key, and not a valid token (" + err.Error() + ")"
	case !p.Publish:
		return `the publisher credential was refused: the token has no "publish":true claim`
	}
	return "the publisher credential was refused"
}
