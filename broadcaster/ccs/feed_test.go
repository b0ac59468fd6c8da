package ccs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/arenacast/arenacast/broadcaster/ccs"
	"github.com/arenacast/arenacast/broadcaster/ccs/ccsfake"
)

// reader is who reads the served feed in the oracle: an admin, a team's
// user, or anonymous.
type reader struct {
	name  string
	admin bool
	team  string // CCS team id; "" with !admin: anonymous
}

// expected is what r may see of the first upto lines of feed, by the
// generator's ground truth: admins everything once; a team the public
// notifications and its own; the public the public ones; and, after the
// thaw, everyone who had not seen them the latest version of what the
// freeze withheld.
func expected(t testing.TB, feed *ccsfake.Feed, upto int, r reader) []string {
	var out []string
	var withheld []string
	latest := map[string]ccsfake.Line{}
	for _, l := range feed.Lines[:upto] {
		if l.Malformed {
			continue
		}
		see := r.admin
		switch l.Vis {
		case ccsfake.VisPublic:
			see = true
		case ccsfake.VisTeam:
			see = see || l.Team == r.team && r.team != ""
		case ccsfake.VisTeams:
			see = see || r.team != "" && slices.Contains(l.Teams, r.team)
		case ccsfake.VisWithheld:
			see = see || l.Team == r.team && r.team != ""
			k := l.Type + "/" + l.ID
			if _, ok := latest[k]; !ok {
				withheld = append(withheld, k)
			}
			latest[k] = l
		}
		if see {
			out = append(out, noteKey(t, l.Raw))
		}
		if l.Thaw && !r.admin {
			for _, k := range withheld {
				if latest[k].Team != r.team {
					out = append(out, noteKey(t, latest[k].Raw))
				}
			}
		}
	}
	return out
}

func servedKeys(t testing.TB, lines [][]byte) []string {
	var out []string
	for _, l := range lines {
		out = append(out, noteKey(t, l))
	}
	return out
}

// TestServedFeedVisibility follows a contest through disconnects and reads
// the served feed as an admin, a team and an anonymous viewer, during the
// freeze and after the thaw: each holds exactly what that reader may see.
func TestServedFeedVisibility(t *testing.T) {
	feed := contestFeed(7, false)
	thaw := slices.IndexFunc(feed.Lines, func(l ccsfake.Line) bool { return l.Thaw })
	bus := openBus(t)
	fake, url := startFake(t, feed, ccsfake.ServerConfig{DropEvery: 60, Seed: 9})
	fake.SetAvailable(thaw) // hold the contest in the freeze
	node := startFeed(t, bus, time.Minute)
	startFollower(t, bus, url)

	team := "t3"
	user := feed.TeamUser[team]
	readers := []struct {
		r   reader
		tok string
	}{
		{reader{name: "admin", admin: true}, node.token(t, "jury", true)},
		{reader{name: "team " + team, team: team}, node.token(t, user, false)},
		{reader{name: "anonymous"}, ""},
	}
	// Frozen submissions: their judgements must not reach the public.
	frozenSubs := map[string]bool{}
	for _, l := range feed.Lines {
		if l.Vis == ccsfake.VisWithheld && l.Type == "judgements" {
			var j struct {
				S string `json:"submission_id"`
			}
			json.Unmarshal(mustData(t, l.Raw), &j)
			frozenSubs[j.S] = true
		}
	}
	if len(frozenSubs) == 0 {
		t.Fatal("the generated contest has no submission in the freeze")
	}
	for _, phase := range []struct {
		name string
		upto int
	}{{"frozen", thaw}, {"thawed", len(feed.Lines)}} {
		fake.SetAvailable(phase.upto)
		admin := expected(t, feed, phase.upto, readers[0].r)
		waitUntil(t, "the feed to hold the "+phase.name+" contest", func() bool {
			return node.count(t, "?stream=false", readers[0].tok) >= len(admin)
		})
		for _, rd := range readers {
			got := servedKeys(t, node.readAll(t, "?stream=false", rd.tok))
			want := expected(t, feed, phase.upto, rd.r)
			if !slices.Equal(got, want) {
				t.Fatalf("%s, %s: served %d notifications, want %d\nfirst difference: %s", phase.name, rd.r.name, len(got), len(want), firstDiff(got, want))
			}
		}
		// The rule, stated directly: during the freeze the public sees no
		// judgement of a submission made in it.
		anon := node.readAll(t, "?stream=false&types=judgements", "")
		hidden := 0
		for _, l := range anon {
			var j struct {
				S string `json:"submission_id"`
			}
			json.Unmarshal(mustData(t, l), &j)
			if frozenSubs[j.S] {
				hidden++
			}
		}
		if phase.name == "frozen" && hidden != 0 {
			t.Fatalf("during the freeze the public saw %d judgements of frozen submissions", hidden)
		}
		if phase.name == "thawed" && hidden < len(frozenSubs) {
			t.Fatalf("after the thaw the public saw %d judgements of the %d frozen submissions", hidden, len(frozenSubs))
		}
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return "at " + itoa(i) + ": got " + got[i] + "\n want " + want[i]
		}
	}
	return "one is a prefix of the other"
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustData(t testing.TB, raw []byte) []byte {
	n, err := ccs.ParseNotification(raw)
	if err != nil {
		t.Fatal(err)
	}
	return n.Data
}

// count is the number of lines a stream=false read returns, -1 when it is
// refused (a contest the feed has not seen yet is 404).
func (n *feedNode) count(t testing.TB, q, tok string) int {
	resp := n.get(t, context.Background(), "wf", q, tok)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return -1
	}
	c := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			c++
		}
	}
	return c
}
