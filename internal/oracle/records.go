package oracle

import (
	"fmt"
	"sort"

	"roster/eventstore"
)

// batchOf names the command a record belongs to: the events of one Append share their
// command id (or, without one, their correlation id); without either, the events of one
// append share stream, actor and time (the caller stamps one time per command).
func batchOf(r eventstore.Record) string {
	switch {
	case r.CommandID != "":
		return "cmd:" + r.CommandID
	case r.CorrelationID != "":
		return "corr:" + r.CorrelationID
	}
	return fmt.Sprintf("at:%s/%s/%d", r.Stream, r.Actor, r.Time.UnixNano())
}

// FromRecords groups the log's records by organization, in position order.
func FromRecords(recs []eventstore.Record) map[string][]Event {
	sorted := append([]eventstore.Record(nil), recs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Position < sorted[j].Position })
	out := map[string][]Event{}
	for _, r := range sorted {
		out[r.OrgID] = append(out[r.OrgID], Event{Type: r.Type, Data: r.Data, Actor: r.Actor, Batch: batchOf(r), Time: r.Time})
	}
	return out
}

// CheckRecords judges every organization found in the records; the answer is sorted.
func CheckRecords(recs []eventstore.Record) []string {
	var out []string
	byOrg := FromRecords(recs)
	ids := make([]string, 0, len(byOrg))
	for id := range byOrg {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out = append(out, Check(id, byOrg[id])...)
	}
	return out
}
