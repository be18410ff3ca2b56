// Package projections owns Roster's read side: the views built from the event
// log (membership, permissions), their checkpoints and snapshots in Badger,
// their rebuild, the Watermill router that feeds them from the JetStream
// stream ROSTER_EVENTS, and the query endpoints on roster.query.<Query>.
// It never writes to the log.
package projections
