package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the form of a channel. The zero Kind is invalid.
type Kind uint8

// The channel forms of the contract.
const (
	KindInvalid      Kind = iota
	KindUser              // /user/<username>
	KindContest           // /contest/<alias>
	KindContestAdmin      // /contest/<alias>/admin
	KindProblem           // /problem/<alias>
	KindScoreboard        // /scoreboard/<token>
)

// String names the kind as metrics and logs show it.
func (k Kind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindContest:
		return "contest"
	case KindContestAdmin:
		return "contest_admin"
	case KindProblem:
		return "problem"
	case KindScoreboard:
		return "scoreboard"
	}
	return "invalid"
}

// Limits on channel names, from the contract.
const (
	// MaxChannelLen is the longest channel name accepted, in bytes.
	MaxChannelLen = 256
	// MaxNameLen is the longest alias or username.
	MaxNameLen = 64
)

// Channel is a parsed, valid channel name. Name is the alias, the username
// or the scoreboard token, depending on Kind.
type Channel struct {
	Kind Kind
	Name string
}

// Errors from ParseChannel. ErrBadChannel maps to the bad_request error code
// (the name breaks the character or length rules); ErrUnknownChannel to
// not_found (a well-formed path that is no channel form of the contract).
var (
	ErrBadChannel     = errors.New("malformed channel name")
	ErrUnknownChannel = errors.New("no such channel form")
)

// ParseChannel validates s and returns its parsed form. Names are
// case-sensitive; no normalisation is applied, so a valid name formats back
// to exactly s.
func ParseChannel(s string) (Channel, error) {
	if len(s) == 0 || len(s) > MaxChannelLen {
		return Channel{}, fmt.Errorf("channel %.40q: %w: length must be 1-%d bytes", s, ErrBadChannel, MaxChannelLen)
	}
	if s[0] != '/' {
		return Channel{}, fmt.Errorf("channel %.40q: %w: must start with /", s, ErrBadChannel)
	}
	// The first three segments, and how many there are; every segment is
	// checked (without strings.Split's allocation: once per event).
	var parts [3]string
	n := 0
	for rest, more := s[1:], true; more; n++ {
		var p string
		p, rest, more = strings.Cut(rest, "/")
		if !validChars(p) {
			return Channel{}, fmt.Errorf("channel %.40q: %w: segments are 1 or more of [A-Za-z0-9_.-]", s, ErrBadChannel)
		}
		if n < len(parts) {
			parts[n] = p
		}
	}
	var ch Channel
	switch {
	case n == 2 && parts[0] == "user":
		ch = Channel{KindUser, parts[1]}
	case n == 2 && parts[0] == "contest":
		ch = Channel{KindContest, parts[1]}
	case n == 3 && parts[0] == "contest" && parts[2] == "admin":
		ch = Channel{KindContestAdmin, parts[1]}
	case n == 2 && parts[0] == "problem":
		ch = Channel{KindProblem, parts[1]}
	case n == 2 && parts[0] == "scoreboard":
		// Tokens may be longer than names; the channel length bounds them.
		return Channel{KindScoreboard, parts[1]}, nil
	default:
		return Channel{}, fmt.Errorf("channel %.40q: %w", s, ErrUnknownChannel)
	}
	if !ValidName(ch.Name) {
		return Channel{}, fmt.Errorf("channel %.40q: %w: names are 1-%d of [A-Za-z0-9_.-]", s, ErrBadChannel, MaxNameLen)
	}
	return ch, nil
}

// ValidName reports whether s is a valid alias or username: 1-64 bytes of
// [A-Za-z0-9_.-].
func ValidName(s string) bool {
	return len(s) <= MaxNameLen && validChars(s)
}

func validChars(s string) bool {
	if s == "" {
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

// String formats the channel back to its wire name.
func (c Channel) String() string {
	switch c.Kind {
	case KindUser:
		return "/user/" + c.Name
	case KindContest:
		return "/contest/" + c.Name
	case KindContestAdmin:
		return "/contest/" + c.Name + "/admin"
	case KindProblem:
		return "/problem/" + c.Name
	case KindScoreboard:
		return "/scoreboard/" + c.Name
	}
	return ""
}

// Publishable reports whether publishers may put events on the channel.
// Scoreboard channels are views of a contest channel: events for them are
// published to /contest/<alias> and filtered per token holder.
func (c Channel) Publishable() bool {
	switch c.Kind {
	case KindUser, KindContest, KindContestAdmin, KindProblem:
		return true
	}
	return false
}
