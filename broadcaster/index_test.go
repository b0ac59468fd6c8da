package broadcaster_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestIndex: GET / names the endpoints; other unknown paths stay 404.
func TestIndex(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodHead, "/", http.StatusOK},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodGet, "/nope", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.http.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.method != http.MethodGet || tc.status != http.StatusOK {
				return
			}
			var body struct {
				Service   string            `json:"service"`
				Endpoints map[string]string `json:"endpoints"`
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			for _, ep := range []string{"GET /events/", "POST /events/ticket", "POST /publish", "GET /readyz"} {
				if !strings.Contains(body.Endpoints[ep], " ") {
					t.Errorf("endpoint %q not described: %v", ep, body.Endpoints)
				}
			}
			if body.Service != "arenacast" {
				t.Fatalf("body %+v", body)
			}
		})
	}
}
