package queries_test

// As-of probes against the reference fold: AccessAt at instants just before, at and just after
// every membership end the log names (expires_at of the events that take one, a moved end, a
// recorded MembershipExpired), and at the positions around every preset upgrade and recorded
// end, judged by folding the organization's records with the test's own fold (refApply, never
// domain.Evolve) up to the instant or position, dropping the ends that had come (refAt), and
// evaluating with the preset version the log named then.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"roster/eventstore"
	"roster/queries"
)

type diffProbe struct {
	at   time.Time // by time when set
	pos  uint64    // by position otherwise
	user string    // a user the instant concerns ("" none)
	why  string
}

// asOfProbes lists the probes of one organization's records.
func asOfProbes(recs []eventstore.Record) []diffProbe {
	var out []diffProbe
	for i, r := range recs {
		switch r.Type {
		case "OrgMemberAdded", "WorkgroupMemberAdded", "MemberAdded", "RoleChanged", "GrantsSet", "MembershipExtended", "MembershipExpired":
			var d struct {
				UserID    string    `json:"user_id"`
				ExpiresAt time.Time `json:"expires_at"`
			}
			if json.Unmarshal(r.Data, &d) != nil || d.ExpiresAt.IsZero() {
				break
			}
			for _, off := range []time.Duration{-time.Second, -time.Nanosecond, 0, time.Nanosecond, time.Second} {
				out = append(out, diffProbe{at: d.ExpiresAt.Add(off), user: d.UserID, why: fmt.Sprintf("end %s%+v of %s at %d", d.ExpiresAt.Format(time.RFC3339), off, r.Type, r.Position)})
			}
			if r.Type == "MembershipExpired" {
				out = append(out, diffProbe{pos: r.Position, user: d.UserID, why: "MembershipExpired"}, diffProbe{pos: r.Position - 1, user: d.UserID, why: "before MembershipExpired"})
			}
		case "PresetUpgraded":
			out = append(out, diffProbe{pos: r.Position, why: "PresetUpgraded"}, diffProbe{pos: r.Position - 1, why: "before PresetUpgraded"},
				diffProbe{at: r.Time, why: "at PresetUpgraded"}, diffProbe{at: r.Time.Add(-time.Nanosecond), why: "before PresetUpgraded"})
			if i > 0 {
				out = append(out, diffProbe{at: recs[i-1].Time, why: "record before PresetUpgraded"})
			}
		}
	}
	return out
}

// refAsOf is the reference state of an organization for a probe (nil: it did not exist yet).
func (h *diffHarness) refAsOf(orgID string, recs []eventstore.Record, p diffProbe) *diffRef {
	o := refNewOrg(orgID)
	var asOf time.Time
	for _, r := range recs {
		if (p.at.IsZero() && r.Position > p.pos) || (!p.at.IsZero() && r.Time.After(p.at)) {
			break
		}
		if err := refApply(o, r); err != nil {
			h.t.Fatal(err)
		}
		asOf = r.Time
	}
	if o.Kind == "" {
		return nil
	}
	if !p.at.IsZero() {
		asOf = p.at
	}
	o = refAt(o, asOf)
	pre := o.PresetDefinition
	if pre == nil {
		pre = h.presets[o.PresetID]
	}
	return &diffRef{o: o, pre: pre}
}

// compareAsOf probes one organization's AccessAt around its ends and preset upgrades.
func (h *diffHarness) compareAsOf(spec diffOrgSpec, rng *rand.Rand, maxProbes int) {
	h.t.Helper()
	h.catchUp()
	all, err := h.store.Read(h.ctx, 1, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var recs []eventstore.Record
	for _, r := range all {
		if r.OrgID == spec.id {
			recs = append(recs, r)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Position < recs[j].Position })
	probes := asOfProbes(recs)
	rng.Shuffle(len(probes), func(i, j int) { probes[i], probes[j] = probes[j], probes[i] })
	if len(probes) > maxProbes {
		probes = probes[:maxProbes]
	}
	now := h.refOf(spec.id)
	scopes := h.scopesOf(now.o)
	for _, p := range probes {
		if p.at.IsZero() && p.pos == 0 {
			continue
		}
		ref := h.refAsOf(spec.id, recs, p)
		users := []string{diffPick(rng, diffAllPeople()), diffPick(rng, append(now.candidates(), diffUsers...))}
		if p.user != "" {
			users = append(users, p.user)
		}
		for _, user := range users {
			s := diffPick(rng, scopes)
			if p.user == user && rng.IntN(2) == 0 {
				s = dscope{}
			}
			b := s.body(spec.id)
			b["user_id"] = user
			kind := "AccessAt/ref-position"
			where := fmt.Sprintf("org %s %s user %s position %d (%s)", spec.id, s, user, p.pos, p.why)
			if !p.at.IsZero() {
				b["at"] = p.at.Format(time.RFC3339Nano)
				kind = "AccessAt/ref-at"
				where = fmt.Sprintf("org %s %s user %s at %s (%s)", spec.id, s, user, p.at.Format(time.RFC3339Nano), p.why)
			} else {
				b["position"] = p.pos
			}
			var got diffPermAnswer
			h.compared(kind)
			if _, code := h.query(queries.QAccessAt, b, &got); code != "" {
				h.mismatch(kind, "%s: refused with %s", where, code)
				continue
			}
			want := diffPermAnswer{Permissions: []string{}, Conditional: []string{}, Roles: []string{}}
			if ref != nil && ref.has(s) {
				want.Permissions, want.Conditional = ref.permissions(user, s)
				want.Roles = ref.memberRoles(user, s)
			}
			for _, f := range []struct {
				name      string
				want, got []string
			}{{"permissions", want.Permissions, got.Permissions}, {"conditional", want.Conditional, got.Conditional}, {"roles", want.Roles, got.Roles}} {
				if w, g := diffSorted(f.want), diffSorted(f.got); !slices.Equal(w, g) {
					h.mismatch(kind, "%s %s:\n  reference %v\n  AccessAt  %v", where, f.name, w, g)
				}
			}
		}
	}
}

// has reports whether the scope exists in the reference state.
func (r diffRef) has(s dscope) bool {
	if s.Project == "" {
		return true
	}
	p, ok := r.o.Projects[s.Project]
	if !ok {
		return false
	}
	if s.Track == "" {
		return true
	}
	_, ok = p.Tracks[s.Track]
	return ok
}
