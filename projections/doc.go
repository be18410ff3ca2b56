// Package projections owns Roster's views and their machinery: the views built from the
// event log (membership, permissions) with Check's decision cache, their checkpoints and
// snapshots in Badger, their rebuild from the log (Rebuild), their state digests, the
// Watermill router and subscriber that feed them from the JetStream stream ROSTER_EVENTS
// (with the dead-letter stream), and the History sources (the local log or the stream)
// that read an organization's events.
//
// It never writes to the log and knows nothing of the wire's codes: it returns Go errors
// (an *OrgNotFoundError, matching ErrOrgNotFound, for an organization a view does not
// hold) that the query edge maps. The questions asked of the views, the
// roster.query.<Query> endpoints and roster.admin.Rebuild are in package queries.
package projections
