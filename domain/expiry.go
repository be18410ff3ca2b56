package domain

// Time-bound access: expires_at on memberships, ExtendMembership, ExpireMemberships.
//
// A membership may carry an end (expires_at). The domain has no clock: every evaluation
// that must honour ends takes the instant it is asked at, through (*Org).At(now), which
// answers the state as if every membership ended at or before now were gone. Decide does
// the same with env.Now and puts the events that record the ends (MembershipExpired and,
// for an organization membership, the removals it cascades to) before the command's own;
// ExpireMemberships, which Roster issues itself, appends just those events. Both are
// decided against the state, so an end is recorded exactly once.
//
// expires_at is RFC 3339, must lie after the decision's time and at most MaxMembershipTTL
// after it. ChangeRole and SetMemberGrants without expires_at keep the membership's end;
// ExtendMembership with an empty expires_at clears it (the membership no longer ends).

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// MaxMembershipTTL bounds how far after the decision's time an expires_at may lie: 10 years.
// The years are calendar years (maxExpiry: the same date ten years on, whatever leap days lie
// between); as a duration this is at most 3,653 days (ten years hold at most three leap days).
const MaxMembershipTTL = (10*365 + 3) * 24 * time.Hour

// maxMembershipYears is MaxMembershipTTL in calendar years.
const maxMembershipYears = 10

// maxExpiry is the latest expires_at allowed for a decision at now: the same instant
// maxMembershipYears calendar years later.
func maxExpiry(now time.Time) time.Time { return now.AddDate(maxMembershipYears, 0, 0) }

// ScopeWorkgroup is the scope of a workgroup membership in a MembershipRef.
const ScopeWorkgroup = "workgroup"

// MembershipRef names one membership: a user in the organization (scope org), a user in a
// workgroup (scope workgroup: group_id is the workgroup), or a user or workgroup on a project
// or track (scope project or track).
type MembershipRef struct {
	Scope     string `json:"scope"`
	ProjectID string `json:"project_id,omitempty"`
	TrackID   string `json:"track_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	GroupID   string `json:"group_id,omitempty"`
}

func (r MembershipRef) key() string {
	return r.Scope + "\x00" + r.ProjectID + "\x00" + r.TrackID + "\x00" + r.UserID + "\x00" + r.GroupID
}

func orgKey(userID string) MembershipRef { return MembershipRef{Scope: ScopeOrg, UserID: userID} }

func workgroupKey(groupID, userID string) MembershipRef {
	return MembershipRef{Scope: ScopeWorkgroup, GroupID: groupID, UserID: userID}
}

func memberKey(t Target, p Principal) MembershipRef {
	return MembershipRef{Scope: scopeOfTarget(t.TrackID), ProjectID: t.ProjectID, TrackID: t.TrackID, UserID: p.UserID, GroupID: p.GroupID}
}

// MembershipExpired records that a membership's end came: the membership is gone.
type MembershipExpired struct {
	MembershipRef
	ExpiresAt time.Time `json:"expires_at"`
}

// MembershipExtended moves a membership's end; a zero ExpiresAt means it no longer ends.
type MembershipExtended struct {
	MembershipRef
	ExpiresAt         time.Time `json:"expires_at,omitzero"`
	PreviousExpiresAt time.Time `json:"previous_expires_at,omitzero"`
}

func (MembershipExpired) EventType() string  { return EvMembershipExpired }
func (MembershipExtended) EventType() string { return EvMembershipExtended }

// ExtendMembership moves the end of a membership: with project_id, a user's or workgroup's
// on the project (or its track); without, a user's in the workgroup group_id when both
// user_id and group_id are given, else a user's in the organization. An empty expires_at
// clears the end. It is authorized as the command that manages that membership: ChangeRole
// at the project or track, AddWorkgroupMember, or ChangeOrgRole.
type ExtendMembership struct {
	Meta
	ProjectID string `json:"project_id,omitempty"`
	TrackID   string `json:"track_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	GroupID   string `json:"group_id,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

// ExpireMemberships records the end of every membership whose time ran out. Roster issues it itself.
type ExpireMemberships struct {
	Meta
}

// InternalCommand reports whether Roster issues the command itself (never decoded from a
// request): ExpireInvites and ExpireMemberships.
func InternalCommand(name string) bool {
	return name == CmdExpireInvites || name == CmdExpireMemberships
}

func (*ExtendMembership) CommandName() string  { return CmdExtendMembership }
func (*ExpireMemberships) CommandName() string { return CmdExpireMemberships }

// expiryEntry is one time-bound membership in the index.
type expiryEntry struct {
	ref MembershipRef
	at  time.Time
}

// expiryIndex lists the time-bound memberships and the earliest end among them, so that a
// state with nothing due answers At without any work. Evolve keeps it.
type expiryIndex struct {
	entries map[string]expiryEntry
	next    time.Time
}

func (x *expiryIndex) set(ref MembershipRef, at time.Time) {
	k := ref.key()
	if at.IsZero() {
		old, ok := x.entries[k]
		if !ok {
			return
		}
		delete(x.entries, k)
		if old.at.Equal(x.next) {
			x.recompute()
		}
		return
	}
	if x.entries == nil {
		x.entries = map[string]expiryEntry{}
	}
	old, had := x.entries[k]
	x.entries[k] = expiryEntry{ref: ref, at: at}
	switch {
	case had && old.at.Equal(x.next) && at.After(old.at):
		x.recompute()
	case x.next.IsZero() || at.Before(x.next):
		x.next = at
	}
}

func (x *expiryIndex) dropProject(projectID string) {
	changed := false
	for k, e := range x.entries {
		if e.ref.ProjectID == projectID {
			delete(x.entries, k)
			changed = true
		}
	}
	if changed {
		x.recompute()
	}
}

func (x *expiryIndex) recompute() {
	x.next = time.Time{}
	for _, e := range x.entries {
		if x.next.IsZero() || e.at.Before(x.next) {
			x.next = e.at
		}
	}
}

func (x expiryIndex) clone() expiryIndex {
	c := expiryIndex{next: x.next}
	if x.entries != nil {
		c.entries = make(map[string]expiryEntry, len(x.entries))
		for k, e := range x.entries {
			c.entries[k] = e
		}
	}
	return c
}

// rebuildExpiring rebuilds the index from the state (a decoded snapshot).
func (o *Org) rebuildExpiring() {
	o.expiring = expiryIndex{}
	for id, m := range o.Members {
		o.expiring.set(orgKey(id), m.ExpiresAt)
	}
	for gid, g := range o.Workgroups {
		for u, at := range g.Expires {
			o.expiring.set(workgroupKey(gid, u), at)
		}
	}
	for pid, p := range o.Projects {
		if p.Status == StatusDeleted {
			continue
		}
		for _, m := range p.Members {
			o.expiring.set(memberKey(Target{ProjectID: pid}, m.Principal), m.ExpiresAt)
		}
		for tid, t := range p.Tracks {
			for _, m := range t.Members {
				o.expiring.set(memberKey(Target{ProjectID: pid, TrackID: tid}, m.Principal), m.ExpiresAt)
			}
		}
	}
}

// NextExpiry is the earliest end of a time-bound membership of the organization (zero: none).
// An answer computed from the state holds until then.
func (o *Org) NextExpiry() time.Time { return o.expiring.next }

// At is the organization as of now: without the memberships whose end is at or before now
// (and what an organization membership's end takes with it). It is o itself when nothing
// is due, else a copy; o is never changed.
func (o *Org) At(now time.Time) *Org {
	evs, at := o.dueExpirations(now)
	if len(evs) == 0 {
		return o
	}
	at.Version = o.Version
	return at
}

// dueExpirations lists the events recording every end at or before now, and the state after
// them (a copy; o itself when nothing is due). Organization memberships come first: their
// cascade removes the user's other memberships, which then need no event of their own.
func (o *Org) dueExpirations(now time.Time) ([]Event, *Org) {
	if o.expiring.next.IsZero() || now.Before(o.expiring.next) {
		return nil, o
	}
	var due []expiryEntry
	for _, e := range o.expiring.entries {
		if !now.Before(e.at) {
			due = append(due, e)
		}
	}
	rank := map[string]int{ScopeOrg: 0, ScopeWorkgroup: 1, ScopeProject: 2, ScopeTrack: 3}
	slices.SortFunc(due, func(a, b expiryEntry) int {
		if d := rank[a.ref.Scope] - rank[b.ref.Scope]; d != 0 {
			return d
		}
		return compareStrings(a.ref.key(), b.ref.key())
	})
	c := o.Clone()
	var evs []Event
	emit := func(ev Event) {
		evs = append(evs, ev)
		Evolve(c, ev)
	}
	for _, e := range due {
		if end, ok := c.membershipEnd(e.ref); !ok || !end.Equal(e.at) {
			continue // gone with an organization membership, or moved
		}
		if e.ref.Scope == ScopeOrg {
			for _, ev := range c.cascadeRemoval(e.ref.UserID, e.at) {
				emit(ev)
			}
		}
		emit(&MembershipExpired{MembershipRef: e.ref, ExpiresAt: e.at})
	}
	return evs, c
}

// membershipEnd is the end of the membership ref names, and whether it exists.
func (o *Org) membershipEnd(ref MembershipRef) (time.Time, bool) {
	switch ref.Scope {
	case ScopeOrg:
		if m, ok := o.Members[ref.UserID]; ok {
			return m.ExpiresAt, true
		}
	case ScopeWorkgroup:
		if g, ok := o.Workgroups[ref.GroupID]; ok && g.Members[ref.UserID] {
			return g.Expires[ref.UserID], true
		}
	default:
		if m := o.membershipOf(ref); m != nil {
			return m.ExpiresAt, true
		}
	}
	return time.Time{}, false
}

func (o *Org) membershipOf(ref MembershipRef) *Membership {
	return membershipMap(o, Target{ProjectID: ref.ProjectID, TrackID: ref.TrackID})[Principal{UserID: ref.UserID, GroupID: ref.GroupID}.Key()]
}

// setWorkgroupExpiry sets (zero: clears) the end of a user's membership of a workgroup.
func setWorkgroupExpiry(o *Org, g *Workgroup, userID string, at time.Time) {
	if at.IsZero() {
		delete(g.Expires, userID)
		if len(g.Expires) == 0 {
			g.Expires = nil
		}
	} else {
		if g.Expires == nil {
			g.Expires = map[string]time.Time{}
		}
		g.Expires[userID] = at
	}
	o.expiring.set(workgroupKey(g.ID, userID), at)
}

// setMembershipExpiry sets a project or track membership's end; a zero at keeps it.
func setMembershipExpiry(o *Org, t Target, m *Membership, at time.Time) {
	if at.IsZero() {
		return
	}
	m.ExpiresAt = at
	o.expiring.set(memberKey(t, m.Principal), at)
}

// evolveMembershipEnd applies MembershipExpired (remove) or MembershipExtended (a new end).
func evolveMembershipEnd(o *Org, ref MembershipRef, at time.Time, remove bool) {
	switch ref.Scope {
	case ScopeOrg:
		m, ok := o.Members[ref.UserID]
		if !ok {
			return
		}
		if remove {
			delete(o.Members, ref.UserID)
			o.expiring.set(ref, time.Time{})
			return
		}
		m.ExpiresAt = at
		o.expiring.set(ref, at)
	case ScopeWorkgroup:
		g, ok := o.Workgroups[ref.GroupID]
		if !ok || !g.Members[ref.UserID] {
			return
		}
		if !remove {
			setWorkgroupExpiry(o, g, ref.UserID, at)
			return
		}
		setWorkgroupExpiry(o, g, ref.UserID, time.Time{})
		delete(g.Members, ref.UserID)
		gs := slices.DeleteFunc(slices.Clone(o.userGroups[ref.UserID]), func(id string) bool { return id == ref.GroupID })
		if len(gs) == 0 {
			delete(o.userGroups, ref.UserID)
		} else {
			o.userGroups[ref.UserID] = gs
		}
	default:
		t := Target{ProjectID: ref.ProjectID, TrackID: ref.TrackID}
		mm := membershipMap(o, t)
		key := Principal{UserID: ref.UserID, GroupID: ref.GroupID}.Key()
		m, ok := mm[key]
		if !ok {
			return
		}
		if remove {
			delete(mm, key)
			o.expiring.set(ref, time.Time{})
			return
		}
		m.ExpiresAt = at
		o.expiring.set(ref, at)
	}
}

// expiresAt parses a command's expires_at: empty is no end; otherwise RFC 3339, after the
// decision's time and at most MaxMembershipTTL after it.
func (d *decider) expiresAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalidf("expires_at %q is not an RFC 3339 instant (e.g. 2030-01-31T00:00:00Z)", s)
	}
	t = t.UTC()
	now := d.env.Now.UTC()
	if !t.After(now) {
		return time.Time{}, invalidf("expires_at %s is not in the future (now is %s)", t.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	if limit := maxExpiry(now); t.After(limit) {
		return time.Time{}, invalidf("expires_at %s is further than MaxMembershipTTL (10 years) from now: the latest allowed is %s", t.Format(time.RFC3339), limit.Format(time.RFC3339Nano))
	}
	return t, nil
}

func (d *decider) extendMembership(c *ExtendMembership) (Outcome, error) {
	at, err := d.expiresAt(c.ExpiresAt)
	if err != nil {
		return Outcome{}, err
	}
	var ref MembershipRef
	var end time.Time
	switch {
	case c.ProjectID != "":
		mref := MemberRef{ProjectID: c.ProjectID, TrackID: c.TrackID, UserID: c.UserID, GroupID: c.GroupID}
		p, err := d.memberCommand(CmdChangeRole, mref)
		if err != nil {
			return Outcome{}, asExtend(err, CmdChangeRole)
		}
		m, err := d.existingMember(p, mref)
		if err != nil {
			return Outcome{}, asExtend(err, CmdChangeRole)
		}
		ref, end = memberKey(mref.target(), m.Principal), m.ExpiresAt
	case c.TrackID != "":
		return Outcome{}, invalidf("track_id %s needs a project_id", c.TrackID)
	case c.GroupID != "" && c.UserID != "":
		g, err := d.workgroupMember(CmdAddWorkgroupMember, c.GroupID, c.UserID)
		if err != nil {
			return Outcome{}, asExtend(err, CmdAddWorkgroupMember)
		}
		if !g.Members[c.UserID] {
			return Outcome{}, notFoundf("user %s is not in workgroup %s", c.UserID, c.GroupID)
		}
		ref, end = workgroupKey(c.GroupID, c.UserID), g.Expires[c.UserID]
	case c.GroupID != "":
		return Outcome{}, invalidf("a workgroup's membership is on a project: give project_id (or user_id too, for a user's membership of the workgroup)")
	default:
		if err := checkIDs(map[string]string{"user_id": c.UserID}, nil); err != nil {
			return Outcome{}, err
		}
		if err := d.authorize(CmdChangeOrgRole, Scope{}, false); err != nil {
			return Outcome{}, asExtend(err, CmdChangeOrgRole)
		}
		m, ok := d.o.Members[c.UserID]
		if !ok {
			return Outcome{}, notFoundf("user %s is not a member of organization %s", c.UserID, d.o.ID)
		}
		ref, end = orgKey(c.UserID), m.ExpiresAt
	}
	// A time-bound member may not lengthen or lift their own access, whatever they may do to
	// others' memberships: another manager moves or clears the end. Setting an end on one's own
	// membership that has none only shortens one's access (and is guarded below).
	if ref.UserID == d.actor && !end.IsZero() {
		if at.IsZero() {
			return Outcome{}, forbiddenf("%s may not ExtendMembership to clear the end of their own membership (it ends at %s); another manager must", d.actor, end.Format(time.RFC3339Nano))
		}
		return Outcome{}, forbiddenf("%s may not ExtendMembership to move the end of their own membership (it ends at %s); another manager must", d.actor, end.Format(time.RFC3339Nano))
	}
	if end.Equal(at) {
		if at.IsZero() {
			return Outcome{}, conflictf("the membership has no end to clear")
		}
		return Outcome{}, conflictf("the membership already ends at %s", at.Format(time.RFC3339Nano))
	}
	evs := []Event{&MembershipExtended{MembershipRef: ref, ExpiresAt: at, PreviousExpiresAt: end}}
	// An end date on the last admin or owner would break SPEC §2.2 at that instant.
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

// asExtend makes a refusal met while authorizing ExtendMembership as cmd name ExtendMembership:
// "x may not ChangeRole here" becomes "x may not ExtendMembership here (authorized as ChangeRole)".
func asExtend(err error, cmd string) error {
	var de *Error
	if !errors.As(err, &de) {
		return err
	}
	msg := strings.Replace(de.Message, "may not "+cmd+" here", "may not "+CmdExtendMembership+" here (authorized as "+cmd+")", 1)
	if msg == de.Message {
		return err
	}
	return newErr(de.Code, "%s", msg)
}

func (d *decider) expireMemberships(*ExpireMemberships) (Outcome, error) {
	if d.actor != SystemActor {
		return Outcome{}, forbiddenf("only Roster itself expires memberships")
	}
	evs, _ := d.o.dueExpirations(d.env.Now)
	return Outcome{Events: evs}, nil
}

// keepOwnEnd refuses a command through which a time-bound member would move the end of their
// own membership (ChangeRole and SetMemberGrants take expires_at too): as with ExtendMembership,
// another manager must.
func (d *decider) keepOwnEnd(cmd string, m *Membership, end time.Time) error {
	if m.UserID == "" || m.UserID != d.actor || m.ExpiresAt.IsZero() || end.IsZero() || end.Equal(m.ExpiresAt) {
		return nil
	}
	return forbiddenf("%s may not %s to move the end of their own membership (it ends at %s); another manager must", d.actor, cmd, m.ExpiresAt.Format(time.RFC3339Nano))
}
