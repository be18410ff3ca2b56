// Package eventstore owns Roster's durable, append-only event log and the
// relay that copies it, in order, to the NATS JetStream stream ROSTER_EVENTS.
//
// The log is the truth. Every record has a global Position (1, 2, 3, … with
// no gaps), a Version inside its stream, and a Time that never decreases with
// Position. Append checks the caller's expected stream version, stores the
// optional command reply under (stream, command id) for idempotency, and
// returns only after the data is durable.
//
// Two Store implementations pass one contract suite: BadgerStore (on disk,
// group commit: as few Badger transactions as the appends queued while the
// previous sync ran take, and one fsync) and MemoryStore (for tests and
// tools). Crash consistency of BadgerStore rests on that fsync: Badger runs
// with SyncWrites off, the committer calls DB.Sync once per batch before any
// caller is answered, and readers never see a record before it is synced. An
// append larger than one transaction is written in slices, each synced, under
// the head key, and committed by its tail (head, marker, reply); an open
// removes records beyond the head key, so an append is still all or nothing.
// An append of BigAppend records or more is staged and chained StageSlice
// records per group commit between the others (staged.go): readers see the log
// up to the position before it until it is whole, and an open completes one it
// finds admitted.
//
// The Relay publishes the log to JetStream with Nats-Msg-Id = record id and
// Nats-Expected-Last-Sequence = position - 1, so the stream sequence equals the
// log position. It resumes from the stream's last sequence, which refills a
// stream that lost writes.
//
// Every record carries the hash of its predecessor and its own (chain.go);
// the log records its format version and migrates older ones on open
// (format.go); backup, restore and recovery from the stream check the chain
// (backup.go, recover.go). See docs/INTEGRITY.md.
//
// The package does not know what an event means: Data is opaque JSON.
package eventstore
