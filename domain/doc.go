// Package domain owns Roster's write model: each organization's state, the
// commands that change it, the events they record, the rules of the product
// specification (§2), the policy presets (embedded data files) and permission
// evaluation.
//
// It follows the decider shape: Decide(state, command, now) returns the events
// a command would append or a typed *Error; Evolve(state, event) is the only
// place state changes. The package does no I/O, reads no clock and imports no
// other package of the project.
//
// # Where things are
//
// The write side, one room per command group:
//
//   - decide.go: Decide, the dispatch table (handlerOf, from command name to handler)
//     and the small helpers every room shares.
//   - organization.go, workgroup.go, project.go, member.go, invitation.go, track.go,
//     partner.go, role.go, import.go: the handlers of each command group.
//   - authorize.go: who may issue a command (the preset's authorize table), which roles
//     and grants they may give, the partner boundary.
//   - invariants.go: the whole invariant engine (an admin in every organization, an owner
//     on every project, Violations) and the guard that refuses events breaking it; it also
//     holds the partial copy of the state (touched, cloneFor) the guard evolves, so that a
//     command checks only what its events touch.
//   - importcsv.go: the CSV format of ImportMembers.
//   - results.go: the typed results commands answer besides their events.
//
// Commands, events and state: names.go (the wire names of commands and events),
// commands.go (command types and their decoder, NewCommand), events.go (event types),
// state.go (Org and Evolve), errors.go (the typed *Error and its codes), ids.go (ValidID).
//
// The read side of the model: evaluate.go (Check: permission decisions), whatif.go
// (the permission changes planned events would make), queries.go (the questions the
// query side asks of a state), snapshot.go (Attach: presets on a restored state).
// Presets: preset.go and presets/*.yaml.
//
// # Adding a command
//
// Declare its name in names.go and CommandNames, its type in commands.go with a case in
// NewCommand, its handler in its room and an entry in handlerOf, an authorize entry in every
// preset that has its feature, and, if it answers more than its events, a result type in
// results.go. TestCommandsComplete fails while one of these is missing.
package domain
