// Package commands owns the write side's NATS endpoints: it decodes and
// validates command requests on roster.cmd.<Command>, loads the
// organization's state (kept hot in memory, rebuilt from its stream on first
// use), calls the domain's decider, appends the events to the log and replies
// only once they are durable. Commands of one organization are serialized;
// commands of different organizations run in parallel. It holds no read model.
package commands
