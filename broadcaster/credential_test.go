package broadcaster_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
)

// TestPublisherRefusalMessages: a 401 from POST /publish or /revoke says
// whether a credential was missing or the given one was refused, and why,
// without quoting it.
func TestPublisherRefusalMessages(t *testing.T) {
	e := newEnv(t, nil)
	c := auth.Claims{Publish: true}
	c.Subject = "grader"
	expired, err := e.signer.UserToken(c, time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, key, want string
	}{
		{"none", "", "a publisher credential is required"},
		{"wrong key", "not-the-key", "the publisher credential was refused: it is not the publish key, and not a valid token"},
		{"user token", e.token("u", nil), `the publisher credential was refused: the token has no "publish":true claim`},
		{"expired publisher token", expired, "the publisher credential was refused: it is not the publish key, and not a valid token (token expired"},
	}
	for _, path := range []string{"/publish", "/revoke"} {
		for _, tc := range cases {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(`{"type":"run_update","channel":"/contest/c1","data":{}}`))
				if tc.key != "" {
					req.Header.Set("Authorization", "Bearer "+tc.key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct{ Error, Message string }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusUnauthorized || body.Error != "unauthorized" || !strings.HasPrefix(body.Message, tc.want) {
					t.Fatalf("%s %+v, want 401 unauthorized %q", resp.Status, body, tc.want)
				}
				if tc.key != "" && strings.Contains(body.Message, tc.key) {
					t.Fatalf("the message quotes the credential: %q", body.Message)
				}
			})
		}
	}
}
