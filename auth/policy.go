package auth

import "github.com/arenacast/arenacast/protocol"

// Access is what a subscriber may see inside one channel. The broadcaster's
// hub groups a channel's subscribers by Access (and, for AccessMember, by
// user) and filters each event once per group with CanSee, so the values are
// few and ordered from least to most.
type Access uint8

// Access levels, docs/protocol.md section 2.
const (
	// AccessNone: may not subscribe.
	AccessNone Access = iota
	// AccessScoreboard: public scoreboard_update and contest_update events of
	// one contest only (a scoreboard token holder).
	AccessScoreboard
	// AccessMember: public events, and private events whose user is the
	// principal (participants, problem viewers).
	AccessMember
	// AccessAll: every event on the channel (owners, admins, site admins).
	AccessAll
)

// String names the access level for logs and metric labels.
func (a Access) String() string {
	switch a {
	case AccessNone:
		return "none"
	case AccessScoreboard:
		return "scoreboard"
	case AccessMember:
		return "member"
	case AccessAll:
		return "all"
	}
	return "invalid"
}

// ChannelAccess decides what principal p (nil for an anonymous connection)
// may see on channel c. It is the one place that reads grants:
//
//	/user/<u>            u itself or a site admin: All
//	/contest/<a>         site admin or admin of a: All; participant of a: Member
//	/contest/<a>/admin   site admin or admin of a: All
//	/problem/<a>         site admin or admin of a: All; viewer of a: Member
//
// Everything else is AccessNone, including scoreboard channels: those are
// authorised by the token in their name (Verifier.VerifyScoreboard, which
// the caller does, then grants AccessScoreboard), never by a principal.
func ChannelAccess(p *Principal, c protocol.Channel) Access {
	if p == nil {
		return AccessNone
	}
	switch c.Kind {
	case protocol.KindUser:
		if p.SiteAdmin || (p.User != "" && p.User == c.Name) {
			return AccessAll
		}
	case protocol.KindContest:
		if p.SiteAdmin || p.AdminsContest(c.Name) {
			return AccessAll
		}
		if p.Participates(c.Name) {
			return AccessMember
		}
	case protocol.KindContestAdmin:
		if p.SiteAdmin || p.AdminsContest(c.Name) {
			return AccessAll
		}
	case protocol.KindProblem:
		if p.SiteAdmin || p.AdminsProblem(c.Name) {
			return AccessAll
		}
		if p.ViewsProblem(c.Name) {
			return AccessMember
		}
	}
	return AccessNone
}

// CanSee reports whether a subscriber with access a (and principal p, nil
// for anonymous and scoreboard holders) sees event ev. Live delivery, replay
// and snapshots all use it, so they cannot disagree:
//
//   - AccessAll sees every event.
//   - AccessMember sees public events and events whose user is p.User; a
//     private event with no user reaches only AccessAll.
//   - AccessScoreboard sees public events of the types ScoreboardType allows.
//   - AccessNone sees nothing.
func CanSee(a Access, p *Principal, ev *protocol.Event) bool {
	if ev == nil {
		return false
	}
	switch a {
	case AccessAll:
		return true
	case AccessMember:
		return ev.Public || (p != nil && ev.User != "" && ev.User == p.User)
	case AccessScoreboard:
		return ev.Public && ScoreboardType(ev.Type)
	}
	return false
}

// ScoreboardType reports whether events of type t are shown to scoreboard
// token holders: scoreboard_update, scoreboard_patch and contest_update only. Everything else,
// public clarifications and run updates included, stays with logged-in
// participants.
func ScoreboardType(t string) bool {
	return protocol.BoardType(t) || t == protocol.TypeContestUpdate
}
