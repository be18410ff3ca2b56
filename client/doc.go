// Package client is the typed Go client of Roster's NATS wire contract (API.md), and the
// contract's one home: the subjects and error codes (wire.go), every command request type
// (commands.go) and its typed result (results.go), every query request and result type
// (queries.go), the event envelope, the reply and error types, and one method per command
// (methods.go) and per query (query_methods.go), with FollowAudit. The service decodes its
// requests into these types and answers with them; it imports nothing of the service.
package client
