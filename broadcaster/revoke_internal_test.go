package broadcaster

import (
	"log/slog"
	"testing"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// TestCloseIfRevoked: a session given its principal after a user
// revocation's walk (the revocation recorded, the session not yet seen)
// closes with 4503 when the principal is the revoked user's and predates
// the revocation; other users, and tokens issued after it, stay open.
func TestCloseIfRevoked(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name   string
		user   string
		issued time.Time
		closed bool
	}{
		{"the revoked user, issued before", "ann", now.Add(-time.Minute), true},
		{"the revoked user, issued in the same second", "ann", now, true},
		{"the revoked user, no iat", "ann", time.Time{}, true},
		{"the revoked user, issued after", "ann", now.Add(time.Second), false},
		{"another user", "bob", now.Add(-time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &Server{opts: Options{}.withDefaults(), log: slog.New(slog.DiscardHandler), hub: newHub()}
			srv.revoked.set(Revocation{User: "ann", Kind: RevokeUser, Before: now})
			rec := &recordingTransport{closed: make(chan struct{})}
			s := &session{srv: srv, t: rec}
			p := &auth.Principal{User: tt.user, IssuedAt: tt.issued, Expires: now.Add(time.Hour)}
			s.mu.Lock()
			s.principal = p
			s.mu.Unlock()
			if got := s.closeIfRevoked(p); got != tt.closed {
				t.Fatalf("closeIfRevoked = %v, want %v", got, tt.closed)
			}
			if !tt.closed {
				if s.isClosed() {
					t.Fatal("the session closed")
				}
				return
			}
			select {
			case <-rec.closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the transport was not closed")
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.code != protocol.CloseSessionRevoked {
				t.Fatalf("closed with %d, want %d", rec.code, protocol.CloseSessionRevoked)
			}
		})
	}
}
