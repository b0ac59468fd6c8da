package ccsfake

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig shapes a fake CCS.
type ServerConfig struct {
	// Username and Password are the basic auth credentials it requires
	// (none when Username is empty).
	Username, Password string
	// DropEvery: a connection is dropped after a random number of lines
	// in [0, 2*DropEvery), part of the next line written first, so that
	// the client sees a truncated line; 0 never drops.
	DropEvery int
	// MinDrops: the first MinDrops connections are dropped before the end
	// of what is available, at a random line (whatever DropEvery says).
	MinDrops int
	// KeepAlive is the idle newline's period. Default 50 ms (a CCS: 120 s).
	KeepAlive time.Duration
	// Seed drives the drops.
	Seed uint64
}

// Server serves a Feed as GET /api/contests/<id>/event-feed, with
// since_token and the keep-alive newline, dropping connections as
// configured. Lines are offered up to Available (SetAvailable), so a test
// can hold the feed at a point (e.g. in the freeze) and let it go on.
type Server struct {
	cfg  ServerConfig // static
	feed *Feed        // static

	mu        sync.Mutex
	rng       *rand.Rand    // guarded by mu
	available int           // guarded by mu
	grew      chan struct{} // guarded by mu; closed when available grows
	forget    bool          // guarded by mu: refuse the next since_token with 400
	conns     int           // guarded by mu: connections answered 200

	// Requests counts feed requests answered 200; Drops the connections
	// it dropped; Refused the 400s.
	Requests, Drops, Refused atomic.Int64
}

// NewServer returns a fake CCS offering every line of feed.
func NewServer(feed *Feed, cfg ServerConfig) *Server {
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 50 * time.Millisecond
	}
	return &Server{cfg: cfg, feed: feed, rng: rand.New(rand.NewPCG(cfg.Seed, 7)), available: len(feed.Lines), grew: make(chan struct{})}
}

// SetAvailable offers the first n lines.
func (s *Server) SetAvailable(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.available = min(n, len(s.feed.Lines))
	close(s.grew)
	s.grew = make(chan struct{})
}

// ForgetTokens makes the next request with since_token fail with 400, as a
// CCS that lost its history does.
func (s *Server) ForgetTokens() {
	s.mu.Lock()
	s.forget = true
	s.mu.Unlock()
}

func (s *Server) lines() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.available, s.grew
}

func (s *Server) dropAfter(from int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns++
	if s.conns <= s.cfg.MinDrops && s.available > from {
		return s.rng.IntN(s.available - from)
	}
	if s.cfg.DropEvery <= 0 {
		return -1
	}
	return s.rng.IntN(2 * s.cfg.DropEvery)
}

// ServeHTTP serves the feed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/contests/"+s.feed.ContestID+"/event-feed" {
		http.Error(w, `{"code":404,"message":"not found"}`, http.StatusNotFound)
		return
	}
	if s.cfg.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.cfg.Username || p != s.cfg.Password {
			http.Error(w, `{"code":401,"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
	}
	i := 0
	if tok := r.URL.Query().Get("since_token"); tok != "" {
		s.mu.Lock()
		forget := s.forget
		s.forget = false
		s.mu.Unlock()
		i = -1
		for k, l := range s.feed.Lines {
			if l.Token == tok {
				i = k + 1
			}
		}
		if i < 0 || forget {
			s.Refused.Add(1)
			http.Error(w, `{"code":400,"message":"unknown token"}`, http.StatusBadRequest)
			return
		}
	}
	s.Requests.Add(1)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	drop := s.dropAfter(i)
	sent := 0
	idle := time.NewTicker(s.cfg.KeepAlive)
	defer idle.Stop()
	for {
		avail, grew := s.lines()
		for ; i < avail; i++ {
			raw := s.feed.Lines[i].Raw
			if drop >= 0 && sent == drop {
				// Part of the line, then the connection goes.
				w.Write(raw[:len(raw)/2])
				rc.Flush()
				s.Drops.Add(1)
				if conn, _, err := rc.Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			if _, err := w.Write(append(raw[:len(raw):len(raw)], '\n')); err != nil {
				return
			}
			sent++
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-grew:
		case <-idle.C:
			if _, err := w.Write([]byte("\n")); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// Tokens returns the tokens of the valid lines, in order.
func (f *Feed) Tokens() []string {
	var out []string
	for _, l := range f.Lines {
		if !l.Malformed {
			out = append(out, l.Token)
		}
	}
	return out
}
