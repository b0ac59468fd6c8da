package protocol

import (
	"fmt"
	"strings"
)

// DefaultSubjectPrefix is the first subject token of every event subject.
const DefaultSubjectPrefix = "arenacast"

// The channel <-> NATS subject mapping is one-to-one:
//
//	/user/<u>            <prefix>.user.<u'>
//	/contest/<a>         <prefix>.contest.<a'>
//	/contest/<a>/admin   <prefix>.contest.<a'>.admin
//	/problem/<a>         <prefix>.problem.<a'>
//
// where x' is x with every '.' replaced by '~' (a character names never
// contain), so a name is always exactly one subject token and the mapping
// reverses. Subject filters select what one would expect:
// <prefix>.contest.<a'> is one contest's public channel,
// <prefix>.contest.<a'>.admin its admin channel, <prefix>.user.* every user.
// Scoreboard channels have no subject: they are views of a contest channel.

// EscapeName turns a valid name into a subject token.
func EscapeName(name string) string { return strings.ReplaceAll(name, ".", "~") }

// UnescapeName reverses EscapeName.
func UnescapeName(tok string) string { return strings.ReplaceAll(tok, "~", ".") }

// Subject returns the NATS subject of a publishable channel under prefix.
func Subject(prefix string, c Channel) (string, error) {
	n := EscapeName(c.Name)
	switch c.Kind {
	case KindUser:
		return prefix + ".user." + n, nil
	case KindContest:
		return prefix + ".contest." + n, nil
	case KindContestAdmin:
		return prefix + ".contest." + n + ".admin", nil
	case KindProblem:
		return prefix + ".problem." + n, nil
	}
	return "", fmt.Errorf("channel %q has no subject: %w", c.String(), ErrUnknownChannel)
}

// StreamSubjects lists the subject filters that cover every publishable
// channel under prefix, for the JetStream stream definition.
func StreamSubjects(prefix string) []string {
	return []string{
		prefix + ".user.*",
		prefix + ".contest.*",
		prefix + ".contest.*.admin",
		prefix + ".problem.*",
	}
}

// ChannelFromSubject reverses Subject. It fails on subjects outside the
// mapping and on tokens that do not unescape to valid names.
func ChannelFromSubject(prefix, subject string) (Channel, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return Channel{}, fmt.Errorf("subject %.80q: %w: not under prefix %q", subject, ErrUnknownChannel, prefix)
	}
	toks := strings.Split(rest, ".")
	var c Channel
	switch {
	case len(toks) == 2 && toks[0] == "user":
		c = Channel{KindUser, UnescapeName(toks[1])}
	case len(toks) == 2 && toks[0] == "contest":
		c = Channel{KindContest, UnescapeName(toks[1])}
	case len(toks) == 3 && toks[0] == "contest" && toks[2] == "admin":
		c = Channel{KindContestAdmin, UnescapeName(toks[1])}
	case len(toks) == 2 && toks[0] == "problem":
		c = Channel{KindProblem, UnescapeName(toks[1])}
	default:
		return Channel{}, fmt.Errorf("subject %.80q: %w", subject, ErrUnknownChannel)
	}
	if !ValidName(c.Name) {
		return Channel{}, fmt.Errorf("subject %.80q: %w", subject, ErrBadChannel)
	}
	return c, nil
}
