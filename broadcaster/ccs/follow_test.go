package ccs_test

import (
	"slices"
	"testing"

	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
)

func contestFeed(seed uint64, noTokens bool) *ccsfake.Feed {
	return ccsfake.Generate(ccsfake.Config{Teams: 12, Problems: 5, Submissions: 120, Clarifications: 25, Malformed: 6, Seed: seed, NoTokens: noTokens})
}

// keysOf is the content of each valid generated line, in order.
func keysOf(t testing.TB, lines []ccsfake.Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, noteKey(t, l.Raw))
	}
	return out
}

// TestFollowThroughDisconnects follows a feed whose CCS drops the
// connection mid-line every few lines: the stream ends up with every
// notification exactly once, in the CCS's order, and the malformed lines
// counted and skipped.
func TestFollowThroughDisconnects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noTokens bool
	}{{"tokens", false}, {"no tokens: every connection replays from the start", true}} {
		t.Run(tc.name, func(t *testing.T) {
			feed := contestFeed(1, tc.noTokens)
			valid := feed.Valid()
			bus := openBus(t)
			// Without tokens each connection starts over, so drops are
			// spread over the whole feed (about a third of the connections read
			// it all); with tokens, every 40 lines or so.
			drop := 40
			if tc.noTokens {
				drop = len(feed.Lines) * 3 / 4
			}
			fake, url := startFake(t, feed, ccsfake.ServerConfig{DropEvery: drop, MinDrops: 4, Seed: 3})
			f := startFollower(t, bus, url)
			waitStream(t, bus, len(valid))
			f.stop()
			got := primaries(t, streamEvents(t, bus))
			var gotKeys []string
			for _, n := range got {
				gotKeys = append(gotKeys, noteKey(t, mustJSON(t, n)))
			}
			if want := keysOf(t, valid); !slices.Equal(gotKeys, want) {
				t.Fatalf("stream holds %d notifications, want the feed's %d in order", len(gotKeys), len(want))
			}
			if !tc.noTokens {
				for i, n := range got {
					if n.Token != valid[i].Token {
						t.Fatalf("notification %d has token %q, want %q", i, n.Token, valid[i].Token)
					}
				}
			}
			st := f.Stats()
			if fake.Drops.Load() < 3 || st.Connects < 4 {
				t.Fatalf("only %d drops and %d connects: the test did not test reconnects", fake.Drops.Load(), st.Connects)
			}
			if st.Malformed < 6 {
				t.Fatalf("malformed lines counted: %d, want at least the 6 in the feed", st.Malformed)
			}
			t.Logf("drops %d, stats %+v", fake.Drops.Load(), st)
		})
	}
}

// TestFollowerRestartAndForgottenToken stops the follower half way and
// starts a new one on the same stream, whose CCS has meanwhile lost its
// tokens (400 for since_token): the new follower rebuilds its place from
// the stream, reads the feed from the start, and publishes only what is
// new.
func TestFollowerRestartAndForgottenToken(t *testing.T) {
	feed := contestFeed(2, false)
	valid := feed.Valid()
	bus := openBus(t)
	fake, url := startFake(t, feed, ccsfake.ServerConfig{DropEvery: 50, Seed: 5})
	half := len(feed.Lines) / 2
	fake.SetAvailable(half)
	wantHalf := 0
	for _, l := range feed.Lines[:half] {
		if !l.Malformed {
			wantHalf++
		}
	}
	f1 := startFollower(t, bus, url)
	waitStream(t, bus, wantHalf)
	f1.stop()

	fake.ForgetTokens()
	fake.SetAvailable(len(feed.Lines))
	f2 := startFollower(t, bus, url)
	waitStream(t, bus, len(valid))
	waitUntil(t, "the second follower to be refused a token", func() bool { return fake.Refused.Load() >= 1 })
	f2.stop()
	var gotKeys []string
	for _, n := range primaries(t, streamEvents(t, bus)) {
		gotKeys = append(gotKeys, noteKey(t, mustJSON(t, n)))
	}
	if want := keysOf(t, valid); !slices.Equal(gotKeys, want) {
		t.Fatalf("stream holds %d notifications, want the feed's %d once each, in order", len(gotKeys), len(want))
	}
	if st := f2.Stats(); st.Repeats < uint64(wantHalf) {
		t.Fatalf("second follower skipped %d repeats, want at least the %d the first published", st.Repeats, wantHalf)
	}
}
