// Package commands owns the write side's NATS endpoints: it decodes and
// validates command requests on roster.cmd.<Command>, loads the
// organization's state (kept hot in memory, rebuilt from its stream on first
// use), calls the domain's decider, appends the events to the log and replies
// only once they are durable. Commands of one organization are serialized;
// commands of different organizations run in parallel. It holds no read model.
//
// Requests are decoded into client's request types and mapped to the domain's commands in
// decode.go; the strict decoder, refusals, code mapping and reply helpers are internal/edge's,
// shared with package queries.
package commands
