// Package queries owns Roster's read API: the roster.query.<Query> endpoints of API.md and
// the operators' roster.admin.Rebuild, answered from the views of package projections and
// from the log's history.
//
// One file per query family: access.go (Check, with explain.go for its provenance;
// Permissions; WhoCan), members.go (ListMembers), projects.go (ListProjects, GetProject),
// invitations.go (ListInvitations), catalog.go (Catalog), history.go (Audit, AccessAt),
// status.go (Status) and admin.go (Rebuild). queries.go holds the query table, the strict
// decoding, the read-your-writes wait and the reply envelope; nats.go the endpoint.
//
// Requests are decoded strictly (internal/edge) into client's request types (client.Check,
// client.ListMembers, …), refusals carry the wire's codes (internal/edge maps them and the
// views' errors), and results are client's types.
//
// Where a query is answered is explicit: the table marks the queries that always read the
// log (Blocks), and Answer(…, mayBlock false) leaves unanswered a query that would wait for
// min_position or read the log; the endpoint answers the rest on the subscription's
// goroutine and those on a goroutine of their own.
package queries
