// Package domain owns Roster's write model: each organization's state, the
// commands that change it, the events they record, the rules of the product
// specification (§2), the policy presets (embedded data files) and permission
// evaluation.
//
// It follows the decider shape: Decide(state, command, now) returns the events
// a command would append or a typed *Error; Evolve(state, event) is the only
// place state changes. The package does no I/O, reads no clock and imports no
// other package of the project.
package domain
