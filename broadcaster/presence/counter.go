// Package presence counts who is connected to each contest: on one node
// (Counter, kept up to date on every subscribe and leave, never by
// scanning sessions), and across the nodes of a deployment (Table, fed by
// the Summary every node publishes every few seconds on a core NATS
// subject; Tracker runs that loop). docs/operations.md ("Presence") is the
// operator's description; docs/protocol.md section 10 the event admins
// receive.
package presence

import (
	"hash/fnv"
	"sort"
	"sync"
)

// Group is a kind of subscriber a contest's counts are split by.
type Group uint8

// The groups. A connection is in a group of a contest while it has at
// least one subscription that puts it there.
const (
	// Contestants: subscribers of /contest/<alias> with participant access.
	Contestants Group = iota
	// Admins: subscribers of /contest/<alias>/admin, and subscribers of
	// /contest/<alias> with admin access (contest and site admins).
	Admins
	// Viewers: /scoreboard/<token> subscribers (anonymous; no users).
	Viewers
	numGroups
)

// String names the group as the wire does.
func (g Group) String() string {
	switch g {
	case Contestants:
		return "contestants"
	case Admins:
		return "admins"
	case Viewers:
		return "viewers"
	}
	return "invalid"
}

// Counts is one group's numbers: connections, and distinct users among
// them (always 0 for Viewers, who are anonymous).
type Counts struct {
	Connections int `json:"connections"`
	Users       int `json:"users"`
}

// Contest is a contest's counts by group, on one node or across nodes.
type Contest struct {
	Contestants Counts `json:"contestants"`
	Admins      Counts `json:"admins"`
	Viewers     Counts `json:"viewers"`
}

func (c *Contest) group(g Group) *Counts {
	switch g {
	case Contestants:
		return &c.Contestants
	case Admins:
		return &c.Admins
	}
	return &c.Viewers
}

// Counter is one node's presence: per contest and group, the connections
// and the users subscribed, each with a reference count, so that one
// connection holding two subscriptions that put it in a group (two
// scoreboard tokens of a contest, a token refresh that re-registers a
// subscription before dropping the old one) counts once, and so does a
// user with several connections. Join and Leave are O(1).
//
// mu guards contests and version.
type Counter struct {
	mu       sync.Mutex
	contests map[string]*local
	version  uint64 // bumped on every change
}

type local struct {
	groups [numGroups]groupCount
}

type groupCount struct {
	conns map[uint64]int // connection id -> subscriptions
	users map[string]int // user -> subscriptions; "" (anonymous) never kept
}

func (l *local) empty() bool {
	for i := range l.groups {
		if len(l.groups[i].conns) > 0 {
			return false
		}
	}
	return true
}

// Join counts one subscription of connection conn (of user; "" for an
// anonymous one) in group g of contest.
func (c *Counter) Join(contest string, g Group, conn uint64, user string) {
	if g >= numGroups {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.contests == nil {
		c.contests = make(map[string]*local)
	}
	l := c.contests[contest]
	if l == nil {
		l = &local{}
		c.contests[contest] = l
	}
	gc := &l.groups[g]
	if gc.conns == nil {
		gc.conns = make(map[uint64]int)
	}
	gc.conns[conn]++
	if user != "" {
		if gc.users == nil {
			gc.users = make(map[string]int)
		}
		gc.users[user]++
	}
	c.version++
}

// Leave undoes one Join with the same arguments; a Leave without its
// Join is ignored.
func (c *Counter) Leave(contest string, g Group, conn uint64, user string) {
	if g >= numGroups {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.contests[contest]
	if l == nil {
		return
	}
	gc := &l.groups[g]
	n, ok := gc.conns[conn]
	if !ok {
		return
	}
	if n <= 1 {
		delete(gc.conns, conn)
	} else {
		gc.conns[conn] = n - 1
	}
	if user != "" {
		if n := gc.users[user]; n <= 1 {
			delete(gc.users, user)
		} else {
			gc.users[user] = n - 1
		}
	}
	if l.empty() {
		delete(c.contests, contest)
	}
	c.version++
}

// Local returns this node's counts for contest (zero when nobody is
// subscribed).
func (c *Counter) Local(contest string) Contest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out Contest
	if l := c.contests[contest]; l != nil {
		for g := range numGroups {
			gc := &l.groups[g]
			*out.group(g) = Counts{Connections: len(gc.conns), Users: len(gc.users)}
		}
	}
	return out
}

// Contests lists the contests this node has subscribers of, sorted.
func (c *Counter) Contests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.contests))
	for name := range c.contests {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// summarize fills s.Contests with this node's counts, each group's users
// as hashes (UserHash), at most maxUsers per group; a group with more
// keeps its Users count and sends no hashes (the Table then adds, rather
// than merges, its users: see Table.Totals).
func (c *Counter) summarize(s *Summary, maxUsers int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Contests = make(map[string]*NodeContest, len(c.contests))
	for name, l := range c.contests {
		nc := &NodeContest{}
		for g := range numGroups {
			gc := &l.groups[g]
			ng := nc.group(g)
			ng.Connections = len(gc.conns)
			ng.Users = len(gc.users)
			if ng.Users > 0 && ng.Users <= maxUsers {
				ng.Hashes = make([]byte, 0, 8*ng.Users)
				for u := range gc.users {
					ng.Hashes = appendHash(ng.Hashes, UserHash(u))
				}
			}
		}
		s.Contests[name] = nc
	}
}

// UserHash is the 64-bit FNV-1a hash of a user name: what a node sends
// instead of the name, the same on every node, so that distinct users can
// be counted across nodes from fixed-size entries. Collisions are
// negligible at contest scale (2^-64 per pair).
func UserHash(user string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(user))
	return h.Sum64()
}

func appendHash(b []byte, h uint64) []byte {
	return append(b, byte(h>>56), byte(h>>48), byte(h>>40), byte(h>>32), byte(h>>24), byte(h>>16), byte(h>>8), byte(h))
}
