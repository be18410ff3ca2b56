package queries_test

// The history index (projections.HistoryIndex) against the brute-force fold: AccessAt at
// past positions against queries.OrgAt (the whole stream folded), Audit with every filter
// against AuditFilter.Match over the whole stream, and Check explain's provenance against the
// lineage of the whole stream.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"roster/client"
	"roster/domain"
	"roster/projections"
	"roster/queries"
)

// compareHistory compares the indexed as-of answers of one organization with the fold.
func (h *diffHarness) compareHistory(spec diffOrgSpec, rng *rand.Rand) {
	h.t.Helper()
	head := h.catchUp()
	hist := projections.StoreHistory{Store: h.store}
	recs, err := hist.OrgEvents(h.ctx, spec.id)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(recs) == 0 {
		return
	}
	now, err := queries.OrgAt(h.ctx, hist, h.presets, spec.id, head)
	if err != nil {
		h.t.Fatal(err)
	}
	users := append(diffSortedKeys(now.Members), diffAllPeople()...)
	scopes := h.scopesOf(now)

	// AccessAt at past positions of the organization (and between them), by position.
	for range 8 {
		pos := recs[rng.IntN(len(recs))].Position - uint64(rng.IntN(2))
		if pos == 0 {
			pos = 1
		}
		ref, err := queries.OrgAt(h.ctx, hist, h.presets, spec.id, pos)
		if err != nil {
			h.t.Fatal(err)
		}
		// As of a position, a membership whose end came by the time of the organization's last
		// record at or before it is gone, recorded or not (README: AccessAt honours expires_at).
		var asOf time.Time
		for _, rec := range recs {
			if rec.Position > pos {
				break
			}
			asOf = rec.Time
		}
		ref = ref.At(asOf)
		for range 4 {
			s, user := diffPick(rng, scopes), diffPick(rng, users)
			b := s.body(spec.id)
			b["user_id"], b["position"] = user, pos
			var got diffPermAnswer
			h.compared("AccessAt/indexed")
			if _, code := h.query(queries.QAccessAt, b, &got); code != "" {
				h.mismatch("AccessAt/indexed", "org %s %s user %s at %d: refused with %s", spec.id, s, user, pos, code)
				continue
			}
			want := diffPermAnswer{Permissions: []string{}, Conditional: []string{}, Roles: []string{}, Position: pos}
			if ref.Exists() {
				sc := domain.Scope{ProjectID: s.Project, TrackID: s.Track}
				if a, c, err := ref.Permissions(user, sc); err == nil {
					want.Permissions, want.Conditional, want.Roles = a, c, ref.MemberRolesAt(user, sc)
				}
			}
			if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
				h.mismatch("AccessAt/indexed", "org %s %s user %s at %d:\n  index %s\n  fold  %s", spec.id, s, user, pos, g, w)
			}
		}
	}

	// Audit with each filter and some of their combinations, paged.
	var actors, types, projects, people []string
	for _, r := range recs {
		actors = append(actors, r.Actor)
		types = append(types, r.Type)
		var t struct {
			ProjectID string `json:"project_id"`
			UserID    string `json:"user_id"`
		}
		_ = json.Unmarshal(r.Data, &t)
		if t.ProjectID != "" {
			projects = append(projects, t.ProjectID)
		}
		if t.UserID != "" {
			people = append(people, t.UserID)
		}
	}
	if len(projects) == 0 {
		projects = []string{"no-such-project"}
	}
	if len(people) == 0 {
		people = []string{"nobody"}
	}
	for i := range 24 {
		f := queries.AuditFilter{}
		b := dobj{"org_id": spec.id}
		pick := rng.IntN(64) | 1<<(i%6)
		if pick&1 != 0 {
			f.ProjectID = diffPick(rng, projects)
			b["project_id"] = f.ProjectID
		}
		if pick&2 != 0 {
			f.UserID = diffPick(rng, people)
			b["user_id"] = f.UserID
		}
		if pick&4 != 0 {
			f.Actor = diffPick(rng, actors)
			b["actor"] = f.Actor
		}
		if pick&8 != 0 {
			f.Types = []string{diffPick(rng, types), diffPick(rng, types)}
			b["types"] = f.Types
		}
		if pick&16 != 0 {
			f.Since = recs[rng.IntN(len(recs))].Time
			b["since"] = f.Since.Format(time.RFC3339Nano)
		}
		if pick&32 != 0 {
			f.Until = recs[rng.IntN(len(recs))].Time
			b["until"] = f.Until.Format(time.RFC3339Nano)
		}
		limit := 1 + rng.IntN(40)
		b["limit"] = limit
		var after uint64
		if rng.IntN(3) == 0 {
			after = recs[rng.IntN(len(recs))].Position
		}
		for page := 0; page < 4; page++ {
			b["after_position"] = after
			var want client.AuditPage
			want.Events = []client.Event{}
			for _, r := range recs {
				if r.Position <= after || !f.Match(r) {
					continue
				}
				if len(want.Events) == limit {
					want.NextAfterPosition = want.Events[limit-1].Position
					break
				}
				want.Events = append(want.Events, client.Event(r))
			}
			var got client.AuditPage
			h.compared("Audit/indexed")
			if _, code := h.query(queries.QAudit, b, &got); code != "" {
				h.mismatch("Audit/indexed", "org %s %v: refused with %s", spec.id, b, code)
				break
			}
			if g, w := auditPositions(got), auditPositions(want); g != w {
				h.mismatch("Audit/indexed", "org %s %v:\n  index %s\n  fold  %s", spec.id, b, g, w)
				break
			}
			if want.NextAfterPosition == 0 {
				break
			}
			after = want.NextAfterPosition
		}
	}

	// Check explain: the events behind each via, against the lineage of the whole stream.
	for range 12 {
		s, user := diffPick(rng, scopes), diffPick(rng, users)
		perms := h.refOf(spec.id).universe()
		if len(perms) == 0 {
			break
		}
		b := s.body(spec.id)
		b["user_id"], b["permission"], b["explain"] = user, diffPick(rng, perms), true
		var got client.CheckResult
		h.compared("Check/explain")
		if _, code := h.query(queries.QCheck, b, &got); code != "" {
			continue // a refusal (archived scope, unknown permission) is compared elsewhere
		}
		want, err := h.q.ExplainReference(h.ctx, spec.id, user, got.ExplainedAt, got.Via)
		if err != nil {
			h.t.Fatal(err)
		}
		gj, _ := json.Marshal(got.Via)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			h.mismatch("Check/explain", "org %s %s user %s %v:\n  index %s\n  fold  %s", spec.id, s, user, b["permission"], gj, wj)
		}
	}
}

func auditPositions(p client.AuditPage) string {
	ps := make([]uint64, len(p.Events))
	for i, e := range p.Events {
		ps[i] = e.Position
	}
	return fmt.Sprintf("%v next %d", ps, p.NextAfterPosition)
}
