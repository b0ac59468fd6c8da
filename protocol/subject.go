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
	// Up to three tokens, cut without strings.Split's allocation: the
	// consumer calls this once per event.
	kind, rest, more := strings.Cut(rest, ".")
	name, suffix, third := strings.Cut(rest, ".")
	two := more && !third
	three := more && third && !strings.Contains(suffix, ".")
	var c Channel
	switch {
	case two && kind == "user":
		c = Channel{KindUser, UnescapeName(name)}
	case two && kind == "contest":
		c = Channel{KindContest, UnescapeName(name)}
	case three && kind == "contest" && suffix == "admin":
		c = Channel{KindContestAdmin, UnescapeName(name)}
	case two && kind == "problem":
		c = Channel{KindProblem, UnescapeName(name)}
	default:
		return Channel{}, fmt.Errorf("subject %.80q: %w", subject, ErrUnknownChannel)
	}
	if !ValidName(c.Name) {
		return Channel{}, fmt.Errorf("subject %.80q: %w", subject, ErrBadChannel)
	}
	return c, nil
}
