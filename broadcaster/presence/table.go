package presence

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Version is the Summary format's version; a node ignores summaries of
// another version (a mixed-version deployment during an upgrade counts
// each side's nodes only).
const Version = 1

// Summary is what a node publishes every interval: its counts for every
// contest it has subscribers of. JSON on the wire:
//
//	{"v":1,"node":"3f9c...","seq":42,"ttl_ms":15000,
//	 "contests":{"annual":{"contestants":{"connections":3,"users":2,"hashes":"<base64>"},
//	                       "admins":{...},"viewers":{"connections":5}}}}
//
// A contest missing from a summary has no subscribers on that node.
type Summary struct {
	V    int    `json:"v"`
	Node string `json:"node"`
	// Seq increases with every summary of the node; an older one arriving
	// late is ignored.
	Seq uint64 `json:"seq"`
	// TTLMS is how long, in milliseconds after it arrived, the summary
	// counts; a node not heard from for that long is dropped. 0 (a node
	// that stops says goodbye): drop it now.
	TTLMS    int64                   `json:"ttl_ms"`
	Contests map[string]*NodeContest `json:"contests"`
}

// NodeContest is one contest's counts on one node.
type NodeContest struct {
	Contestants NodeGroup `json:"contestants"`
	Admins      NodeGroup `json:"admins"`
	Viewers     NodeGroup `json:"viewers"`
}

func (c *NodeContest) group(g Group) *NodeGroup {
	switch g {
	case Contestants:
		return &c.Contestants
	case Admins:
		return &c.Admins
	}
	return &c.Viewers
}

// NodeGroup is one group's counts on one node. Hashes holds the UserHash
// of each of its Users, 8 bytes each big-endian (base64 in JSON), unless
// the node had more users than it sends hashes for: then it is empty.
type NodeGroup struct {
	Connections int    `json:"connections,omitempty"`
	Users       int    `json:"users,omitempty"`
	Hashes      []byte `json:"hashes,omitempty"`
}

// DecodeSummary parses and checks a published summary.
func DecodeSummary(b []byte) (*Summary, error) {
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("presence summary: %w", err)
	}
	if s.V != Version {
		return nil, fmt.Errorf("presence summary: version %d, want %d", s.V, Version)
	}
	if s.Node == "" {
		return nil, errors.New("presence summary: no node")
	}
	if s.TTLMS < 0 {
		return nil, errors.New("presence summary: negative ttl_ms")
	}
	for name, c := range s.Contests {
		if c == nil {
			return nil, fmt.Errorf("presence summary: contest %q: null", name)
		}
		for g := range numGroups {
			ng := c.group(g)
			if ng.Connections < 0 || ng.Users < 0 {
				return nil, fmt.Errorf("presence summary: contest %q: negative count", name)
			}
			if len(ng.Hashes) != 0 && len(ng.Hashes) != 8*ng.Users {
				return nil, fmt.Errorf("presence summary: contest %q %s: %d hash bytes for %d users", name, g, len(ng.Hashes), ng.Users)
			}
		}
	}
	return &s, nil
}

// Totals is a contest's counts across the nodes heard from.
type Totals struct {
	Contest
	// Approximate is set when a node had more users in a group than it
	// sends hashes for: that group's Users is then the sum of the distinct
	// users merged from the other nodes and that node's own count, an
	// upper bound (a user on two such nodes counts twice).
	Approximate bool `json:"approximate,omitempty"`
}

// Table is the latest summary of every node, as received; Totals merges
// them. mu guards nodes.
type Table struct {
	mu    sync.Mutex
	nodes map[string]*entry
}

type entry struct {
	s       *Summary
	expires time.Time
}

// Put records s, received at now, unless an entry of its node with a
// higher Seq is newer. A summary with TTLMS 0 removes its node. It reports
// whether s was taken.
func (t *Table) Put(s *Summary, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nodes == nil {
		t.nodes = make(map[string]*entry)
	}
	if old := t.nodes[s.Node]; old != nil && old.s.Seq >= s.Seq && now.Before(old.expires) {
		return false
	}
	if s.TTLMS == 0 {
		delete(t.nodes, s.Node)
		return true
	}
	t.nodes[s.Node] = &entry{s: s, expires: now.Add(time.Duration(s.TTLMS) * time.Millisecond)}
	return true
}

// Totals drops the nodes whose summary expired by now, and returns every
// contest's totals across the others, and how many nodes counted.
func (t *Table) Totals(now time.Time) (map[string]Totals, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	type merge struct {
		tot    Totals
		hashes [numGroups]map[uint64]struct{}
		extra  [numGroups]int // users of nodes that sent no hashes
	}
	ms := make(map[string]*merge)
	for id, e := range t.nodes {
		if !now.Before(e.expires) {
			delete(t.nodes, id)
			continue
		}
		for name, nc := range e.s.Contests {
			m := ms[name]
			if m == nil {
				m = &merge{}
				ms[name] = m
			}
			for g := range numGroups {
				ng := nc.group(g)
				m.tot.group(g).Connections += ng.Connections
				if ng.Users == 0 {
					continue
				}
				if len(ng.Hashes) == 0 {
					m.extra[g] += ng.Users
					m.tot.Approximate = true
					continue
				}
				if m.hashes[g] == nil {
					m.hashes[g] = make(map[uint64]struct{}, ng.Users)
				}
				for i := 0; i+8 <= len(ng.Hashes); i += 8 {
					b := ng.Hashes[i : i+8]
					h := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
						uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
					m.hashes[g][h] = struct{}{}
				}
			}
		}
	}
	out := make(map[string]Totals, len(ms))
	for name, m := range ms {
		for g := range numGroups {
			m.tot.group(g).Users = len(m.hashes[g]) + m.extra[g]
		}
		out[name] = m.tot
	}
	return out, len(t.nodes)
}
