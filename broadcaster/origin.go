package broadcaster

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed applies the Origin rule shared by WebSocket and SSE (CORS):
// no Origin (not a browser) and same-origin requests pass; other origins must
// match one of the patterns (path.Match syntax against the origin's host,
// or against scheme://host when the pattern has "://"), case-insensitively.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}
