package ccs

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/arenacast/arenacast/protocol"
)

// Rule says who sees the notifications of one CCS type (docs/ccs.md).
type Rule string

// The rules a Mapping may name.
const (
	// RulePublic: everyone on the contest channel (and anonymous feed
	// readers).
	RulePublic Rule = "public"
	// RuleAdmin: the contest's admins only.
	RuleAdmin Rule = "admin"
	// RuleTeam: the notification's team (its user) and the admins.
	RuleTeam Rule = "team"
	// RuleTeamFrozen: public, except for what concerns a submission made
	// during the scoreboard freeze: that goes to its team and the admins
	// until the thaw, when it is released to the public.
	RuleTeamFrozen Rule = "team_frozen"
	// RuleRecipients: clarifications: a team's request to that team; a
	// reply to its to_team_ids / to_group_ids (to_team_id in 2022-07);
	// one to nobody in particular to everyone.
	RuleRecipients Rule = "recipients"
	// RuleDrop: not published at all.
	RuleDrop Rule = "drop"
)

func (r Rule) valid() bool {
	switch r {
	case RulePublic, RuleAdmin, RuleTeam, RuleTeamFrozen, RuleRecipients, RuleDrop:
		return true
	}
	return false
}

// Mapping decides the visibility of each notification: a Rule per CCS type,
// a Default for the others, and how a CCS team id becomes the user name its
// tokens carry. Operators read and change it as JSON (arenacast ccs-follow
// --print-mapping, --mapping).
type Mapping struct {
	// Types maps a CCS notification type to its rule.
	Types map[string]Rule `json:"types"`
	// Default is the rule of types not listed. DefaultMapping: admin, so
	// that a type the CCS adds later is not shown before someone decides.
	Default Rule `json:"default"`
	// TeamUser is the user name of a team: "{id}" is replaced by the CCS
	// team id. An account of the feed (type "accounts", with team_id and
	// username) overrides it for its team when UseAccounts is true.
	TeamUser    string `json:"team_user"`
	UseAccounts bool   `json:"use_accounts"`
}

// DefaultMapping is the mapping docs/ccs.md documents.
func DefaultMapping() Mapping {
	return Mapping{
		Types: map[string]Rule{
			"contest": RulePublic, "state": RulePublic, "awards": RulePublic,
			"problems": RulePublic, "teams": RulePublic, "organizations": RulePublic,
			"groups": RulePublic, "languages": RulePublic, "judgement-types": RulePublic,
			"team-members": RulePublic, "persons": RulePublic, "commentary": RulePublic,
			"maps": RulePublic, "start-status": RulePublic,
			"submissions":    RulePublic,
			"judgements":     RuleTeamFrozen,
			"runs":           RuleTeamFrozen,
			"clarifications": RuleRecipients,
			"accounts":       RuleAdmin,
		},
		Default:     RuleAdmin,
		TeamUser:    "{id}",
		UseAccounts: true,
	}
}

// ReadMapping reads a JSON mapping; fields it leaves out keep
// DefaultMapping's values, and types it lists replace theirs (others keep
// the default rules). Unknown fields and rules are refused.
func ReadMapping(r io.Reader) (Mapping, error) {
	m := DefaultMapping()
	var in struct {
		Types       map[string]Rule `json:"types"`
		Default     *Rule           `json:"default"`
		TeamUser    *string         `json:"team_user"`
		UseAccounts *bool           `json:"use_accounts"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return m, fmt.Errorf("ccs mapping: %w", err)
	}
	maps.Copy(m.Types, in.Types)
	if in.Default != nil {
		m.Default = *in.Default
	}
	if in.TeamUser != nil {
		m.TeamUser = *in.TeamUser
	}
	if in.UseAccounts != nil {
		m.UseAccounts = *in.UseAccounts
	}
	return m, m.Validate()
}

// Validate checks every rule and the team user template.
func (m Mapping) Validate() error {
	for _, t := range slices.Sorted(maps.Keys(m.Types)) {
		if !m.Types[t].valid() {
			return fmt.Errorf("ccs mapping: type %q: unknown rule %q", t, m.Types[t])
		}
	}
	if !m.Default.valid() {
		return fmt.Errorf("ccs mapping: default: unknown rule %q", m.Default)
	}
	if !strings.Contains(m.TeamUser, "{id}") {
		return fmt.Errorf("ccs mapping: team_user %q must contain {id}", m.TeamUser)
	}
	return nil
}

// JSON is the mapping as an operator reads it.
func (m Mapping) JSON() []byte {
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

func (m Mapping) rule(ccsType string) Rule {
	if r, ok := m.Types[ccsType]; ok {
		return r
	}
	return m.Default
}

// Publication is one event a Follower publishes, with the JetStream message
// id that makes a replay of it harmless.
type Publication struct {
	Event protocol.Event
	MsgID string
}

// audience is who sees one publication: public; else the users listed; an
// empty list is the admins only.
type audience struct {
	public bool
	users  []string
}

type submission struct {
	team   string
	frozen bool // made during the freeze
}

// router holds what the mapping needs to remember about a feed to place a
// notification: teams and their groups and users, submissions and
// judgements, the freeze, what each object was last shown to, and what is
// withheld until the thaw. One router per followed feed; not safe for
// concurrent use (the Follower's goroutine owns it).
type router struct {
	m       Mapping
	channel string // /contest/<alias>
	alias   string

	accounts    map[string]string   // team id -> user name from accounts
	teamGroups  map[string][]string // team id -> group ids
	submissions map[string]submission
	judgements  map[string]string // judgement id -> submission id
	shown       map[string]audience
	// frozen: state.frozen is set and state.thawed is not; thawed: it is.
	frozen, thawed bool
	// freezeAt is the contest time the freeze starts (contest duration
	// minus scoreboard_freeze_duration), -1 when unknown.
	freezeAt float64
	// withheld lists the objects withheld from the public, in the order
	// they were first withheld, with their latest notification and team.
	withheld     []string
	withheldLast map[string]withheldItem
}

type withheldItem struct {
	n    Notification
	team string
}

func newRouter(m Mapping, alias string) *router {
	return &router{
		m: m, alias: alias, channel: "/contest/" + alias,
		accounts: map[string]string{}, teamGroups: map[string][]string{},
		submissions: map[string]submission{}, judgements: map[string]string{},
		shown: map[string]audience{}, withheldLast: map[string]withheldItem{},
		freezeAt: -1,
	}
}

// user returns the user name of a CCS team, or "" when it has none that
// is a valid name.
func (r *router) user(team string) string {
	if team == "" {
		return ""
	}
	if u, ok := r.accounts[team]; ok && r.m.UseAccounts {
		return u
	}
	u := strings.ReplaceAll(r.m.TeamUser, "{id}", team)
	if !protocol.ValidName(u) {
		return ""
	}
	return u
}

// route returns the events that publish n (identity names the
// notification; message ids derive from it), learning what later
// notifications need. It never fails: what it cannot place goes to the
// admins.
func (r *router) route(n *Notification, raw []byte, identity string) []Publication {
	r.learn(n)
	rule := r.m.rule(n.Type)
	if rule == RuleDrop {
		return nil
	}
	var aud audience
	withhold := false
	team := ""
	switch {
	case n.Data[0] == '[' && rule != RulePublic:
		// A whole collection at once (2023-06, id null): its elements may
		// belong to different teams, so only the admins see it.
	case n.Deleted():
		// A delete goes to whoever saw the object (admins when nobody did).
		// Something withheld and deleted before the thaw is never released.
		aud = r.shown[n.key()]
		delete(r.withheldLast, n.key())
	case rule == RulePublic:
		aud.public = true
	case rule == RuleAdmin:
	case rule == RuleTeam:
		team = r.teamOf(n)
		aud = r.teamAudience(team)
	case rule == RuleTeamFrozen:
		team = r.teamOf(n)
		if sub, ok := r.submissions[r.submissionOf(n)]; ok && sub.frozen && !r.thawed {
			withhold = true
			aud = r.teamAudience(team)
		} else {
			aud.public = true
		}
	case rule == RuleRecipients:
		aud = r.recipients(n)
	}
	r.shown[n.key()] = aud
	if withhold {
		if _, ok := r.withheldLast[n.key()]; !ok {
			r.withheld = append(r.withheld, n.key())
		}
		r.withheldLast[n.key()] = withheldItem{n: *n, team: team}
	}
	typ := EventType(n.Type)
	ev := protocol.Event{Type: typ, Channel: r.channel, Public: aud.public, Data: raw}
	var out []Publication
	switch {
	case aud.public:
	case len(aud.users) == 1:
		ev.User = aud.users[0]
	case len(aud.users) > 1:
		// The event itself goes to the admins; each recipient gets a share.
		for _, u := range aud.users {
			out = append(out, Publication{
				Event: protocol.Event{Type: typ + suffixShare, Channel: r.channel, User: u, Data: raw},
				MsgID: identity + "/share/" + u,
			})
		}
	}
	out = append([]Publication{{Event: ev, MsgID: identity}}, out...)
	if n.Type == "state" && r.thawed && len(r.withheld) > 0 {
		out = append(out, r.release(identity)...)
	}
	return out
}

// release publishes, at the thaw, the latest version of everything
// withheld, in the order it was withheld: public, with the team as user so
// that the team (which saw it already) can tell.
func (r *router) release(identity string) []Publication {
	var out []Publication
	for i, k := range r.withheld {
		it, ok := r.withheldLast[k]
		if !ok {
			continue // deleted meanwhile
		}
		raw, _ := json.Marshal(&it.n)
		ev := protocol.Event{Type: EventType(it.n.Type) + suffixRelease, Channel: r.channel, User: r.user(it.team), Public: true, Data: raw}
		out = append(out, Publication{Event: ev, MsgID: identity + "/release/" + strconv.Itoa(i)})
		r.shown[k] = audience{public: true}
	}
	r.withheld, r.withheldLast = nil, map[string]withheldItem{}
	return out
}

func (r *router) teamAudience(team string) audience {
	if u := r.user(team); u != "" {
		return audience{users: []string{u}}
	}
	return audience{}
}

// recipients places a clarification.
func (r *router) recipients(n *Notification) audience {
	var c struct {
		From     *string  `json:"from_team_id"`
		To       *string  `json:"to_team_id"` // 2022-07
		ToTeams  []string `json:"to_team_ids"`
		ToGroups []string `json:"to_group_ids"`
	}
	if json.Unmarshal(n.Data, &c) != nil {
		return audience{}
	}
	teams := map[string]bool{}
	if c.From != nil && *c.From != "" {
		teams[*c.From] = true
	}
	if c.To != nil && *c.To != "" {
		teams[*c.To] = true
	}
	for _, t := range c.ToTeams {
		teams[t] = true
	}
	for _, g := range c.ToGroups {
		for t, gs := range r.teamGroups {
			if slices.Contains(gs, g) {
				teams[t] = true
			}
		}
	}
	if len(teams) == 0 {
		if c.ToGroups != nil && len(c.ToGroups) > 0 {
			return audience{} // groups with no known team: admins only
		}
		return audience{public: true}
	}
	var users []string
	for _, t := range slices.Sorted(maps.Keys(teams)) {
		if u := r.user(t); u != "" {
			users = append(users, u)
		}
	}
	return audience{users: users}
}

// teamOf is the team a notification concerns ("" when none is known).
func (r *router) teamOf(n *Notification) string {
	switch n.Type {
	case "teams":
		return n.ID
	case "submissions", "judgements", "runs":
		return r.submissions[r.submissionOf(n)].team
	}
	var d struct {
		TeamID string `json:"team_id"`
		From   string `json:"from_team_id"`
	}
	json.Unmarshal(n.Data, &d)
	if d.TeamID != "" {
		return d.TeamID
	}
	return d.From
}

// submissionOf is the submission a submission, judgement or run belongs to.
func (r *router) submissionOf(n *Notification) string {
	switch n.Type {
	case "submissions":
		return n.ID
	case "judgements":
		return r.judgements[n.ID]
	case "runs":
		var d struct {
			J string `json:"judgement_id"`
		}
		json.Unmarshal(n.Data, &d)
		return r.judgements[d.J]
	}
	return ""
}

// learn records what n tells about the contest.
func (r *router) learn(n *Notification) {
	if n.Deleted() {
		return
	}
	if n.Data[0] == '[' {
		var elems []json.RawMessage
		json.Unmarshal(n.Data, &elems)
		for _, e := range elems {
			var d struct {
				ID string `json:"id"`
			}
			if len(e) > 0 && e[0] == '{' && json.Unmarshal(e, &d) == nil {
				r.learn(&Notification{Type: n.Type, ID: d.ID, Data: e})
			}
		}
		return
	}
	switch n.Type {
	case "contest":
		var c struct {
			Duration string `json:"duration"`
			Freeze   string `json:"scoreboard_freeze_duration"`
		}
		if json.Unmarshal(n.Data, &c) == nil {
			d, ok1 := ParseRelTime(c.Duration)
			f, ok2 := ParseRelTime(c.Freeze)
			if ok1 && ok2 {
				r.freezeAt = d - f
			}
		}
	case "state":
		var s struct {
			Frozen *string `json:"frozen"`
			Thawed *string `json:"thawed"`
		}
		if json.Unmarshal(n.Data, &s) == nil {
			r.thawed = s.Thawed != nil
			r.frozen = s.Frozen != nil && !r.thawed
		}
	case "teams":
		var t struct {
			Groups []string `json:"group_ids"`
		}
		if json.Unmarshal(n.Data, &t) == nil {
			r.teamGroups[n.ID] = t.Groups
		}
	case "accounts":
		var a struct {
			Type     string  `json:"type"`
			Username string  `json:"username"`
			Team     *string `json:"team_id"`
		}
		if json.Unmarshal(n.Data, &a) == nil && a.Team != nil && *a.Team != "" && protocol.ValidName(a.Username) {
			r.accounts[*a.Team] = a.Username
		}
	case "submissions":
		var s struct {
			Team        string `json:"team_id"`
			ContestTime string `json:"contest_time"`
		}
		if json.Unmarshal(n.Data, &s) == nil {
			frozen := r.frozen && !r.thawed
			if ct, ok := ParseRelTime(s.ContestTime); ok && r.freezeAt >= 0 && ct >= r.freezeAt {
				frozen = true
			}
			if prev, ok := r.submissions[n.ID]; ok {
				frozen = frozen || prev.frozen
			}
			r.submissions[n.ID] = submission{team: s.Team, frozen: frozen}
		}
	case "judgements":
		var j struct {
			S string `json:"submission_id"`
		}
		if json.Unmarshal(n.Data, &j) == nil && j.S != "" {
			r.judgements[n.ID] = j.S
		}
	}
}

// ParseRelTime parses a CCS RELTIME ("(-)?(h)*:mm:ss(.uuu)?") into seconds.
func ParseRelTime(s string) (float64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, false
	}
	h, err1 := strconv.ParseUint(parts[0], 10, 32)
	m, err2 := strconv.ParseUint(parts[1], 10, 8)
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || m > 59 || sec < 0 || sec >= 60 || len(parts[1]) != 2 {
		return 0, false
	}
	v := float64(h)*3600 + float64(m)*60 + sec
	if neg {
		v = -v
	}
	return v, true
}
