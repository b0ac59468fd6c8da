package legacy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// Channel names the adapter maps omegaUp's routing onto. omegaUp aliases
// never contain '.', so these cannot collide with a real contest's channel;
// our own clients reach them only with matching grants (site admins, or a
// token that lists the name).
const (
	// AllEventsChannel carries a copy of every envelope, for /all-events
	// (site admins only).
	AllEventsChannel = "/contest/omegaup.all-events"
	// problemsetPrefix is the contest alias of problemset <id>:
	// /contest/problemset.<id>.
	problemsetPrefix = "problemset."
)

// ProblemsetChannel is the channel of omegaUp problemset id.
func ProblemsetChannel(id int64) string {
	return "/contest/" + problemsetAlias(id)
}

func problemsetAlias(id int64) string { return problemsetPrefix + strconv.FormatInt(id, 10) }

// filterKind is one of omegaUp's filter forms.
type filterKind uint8

const (
	filterAllEvents  filterKind = iota + 1 // /all-events
	filterUser                             // /user/<name>
	filterContest                          // /contest/<alias>[/<token>]
	filterProblemset                       // /problemset/<id>[/<token>]
	filterProblem                          // /problem/<alias>
)

// filter is one parsed filter query parameter.
type filter struct {
	kind  filterKind
	name  string // alias or user name
	id    int64  // problemset id
	token string // scoreboard token, checked by the platform
}

// maxFilters bounds the filters of one connection.
const maxFilters = 16

// parseFilters reads a connection's filter parameters: each repeated
// filter= value, itself possibly a comma-separated list (the deployed
// broadcaster joins and splits them on commas).
func parseFilters(values []string) ([]filter, error) {
	var out []filter
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			f, err := parseFilter(s)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
			if len(out) > maxFilters {
				return nil, fmt.Errorf("more than %d filters", maxFilters)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no filter: connect with ?filter=/contest/<alias> (or /problemset/<id>, /problem/<alias>, /user/<name>, /all-events)")
	}
	return out, nil
}

func parseFilter(s string) (filter, error) {
	bad := func(why string) (filter, error) {
		return filter{}, fmt.Errorf("filter %.80q: %s; want /all-events, /user/<name>, /contest/<alias>[/<token>], /problemset/<id>[/<token>] or /problem/<alias>", s, why)
	}
	if !strings.HasPrefix(s, "/") {
		return bad("must start with /")
	}
	parts := strings.Split(s[1:], "/")
	for _, p := range parts {
		if !validToken(p) {
			return bad("segments are 1 or more of [A-Za-z0-9_.-]")
		}
	}
	// Contest and problem aliases never hold '.' on omegaUp, which keeps
	// the problemset.<id> and omegaup.all-events names apart; usernames may.
	name := func(i int) (string, bool) {
		return parts[i], protocol.ValidName(parts[i]) && !strings.Contains(parts[i], ".")
	}
	switch {
	case len(parts) == 1 && parts[0] == "all-events":
		return filter{kind: filterAllEvents}, nil
	case len(parts) == 2 && parts[0] == "user":
		if protocol.ValidName(parts[1]) {
			return filter{kind: filterUser, name: parts[1]}, nil
		}
	case (len(parts) == 2 || len(parts) == 3) && parts[0] == "contest":
		if n, ok := name(1); ok {
			f := filter{kind: filterContest, name: n}
			if len(parts) == 3 {
				f.token = parts[2]
			}
			return f, nil
		}
	case (len(parts) == 2 || len(parts) == 3) && parts[0] == "problemset":
		id, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || id <= 0 {
			return bad("a problemset id is a positive integer")
		}
		f := filter{kind: filterProblemset, id: id}
		if len(parts) == 3 {
			f.token = parts[2]
		}
		return f, nil
	case len(parts) == 2 && parts[0] == "problem":
		if n, ok := name(1); ok {
			return filter{kind: filterProblem, name: n}, nil
		}
	default:
		return bad("unknown filter")
	}
	return bad("aliases are 1-64 of [A-Za-z0-9_-], usernames 1-64 of [A-Za-z0-9_.-]")
}

// validToken reports whether s is a non-empty run of [A-Za-z0-9_.-] (a
// name, an id, or a scoreboard token).
func validToken(s string) bool {
	if s == "" || len(s) > protocol.MaxChannelLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// joinFilters formats filters back as the deployed broadcaster sends them
// to validateFilter: comma-separated.
func joinFilters(values []string) string {
	var all []string
	for _, v := range values {
		all = append(all, strings.Split(v, ",")...)
	}
	return strings.Join(all, ",")
}

// Validation is the platform's answer to validateFilter: who the
// connection is and what it administers.
type Validation struct {
	User            string   `json:"user"`
	Admin           bool     `json:"admin"`
	ProblemAdmin    []string `json:"problem_admin"`
	ContestAdmin    []string `json:"contest_admin"`
	ProblemsetAdmin []int64  `json:"problemset_admin"`
}

// grants maps the platform's answer and the filters it allowed onto a
// principal's grants and the channels to subscribe:
//
//	/all-events                 AllEventsChannel (the answer must say admin)
//	/user/<name>                /user/<the answer's user> (omegaUp matches the connection's own user, whatever the name)
//	/contest/<alias>[/<token>]  /contest/<alias>, participant of alias
//	/problemset/<id>[/<token>]  /contest/problemset.<id>, participant of it
//	/problem/<alias>            /problem/<alias>, viewer of alias
//
// admin is a site admin; contest_admin, problemset_admin and problem_admin
// are admin grants. A participant sees public events and its own; an
// anonymous one (no user: a public scoreboard link) public events only.
func grants(filters []filter, v Validation) (auth.Grants, []string, error) {
	g := auth.Grants{User: v.User, SiteAdmin: v.Admin}
	for _, a := range v.ContestAdmin {
		if protocol.ValidName(a) {
			g.ContestsAdmin = append(g.ContestsAdmin, a)
		}
	}
	for _, id := range v.ProblemsetAdmin {
		g.ContestsAdmin = append(g.ContestsAdmin, problemsetAlias(id))
	}
	for _, a := range v.ProblemAdmin {
		if protocol.ValidName(a) {
			g.ProblemsAdmin = append(g.ProblemsAdmin, a)
		}
	}
	var channels []string
	for _, f := range filters {
		switch f.kind {
		case filterAllEvents:
			if !v.Admin {
				return g, nil, fmt.Errorf("/all-events is for site admins")
			}
			channels = append(channels, AllEventsChannel)
		case filterUser:
			if v.User == "" {
				return g, nil, fmt.Errorf("/user/ filters need a logged-in user")
			}
			channels = append(channels, "/user/"+v.User)
		case filterContest:
			g.Contests = append(g.Contests, f.name)
			channels = append(channels, "/contest/"+f.name)
		case filterProblemset:
			g.Contests = append(g.Contests, problemsetAlias(f.id))
			channels = append(channels, ProblemsetChannel(f.id))
		case filterProblem:
			g.Problems = append(g.Problems, f.name)
			channels = append(channels, "/problem/"+f.name)
		}
	}
	return g, channels, nil
}
