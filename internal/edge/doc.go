// Package edge holds what the command endpoints (package commands) and the query endpoints
// (package queries) share at the wire's edge: StreamOf (an organization's log stream), the
// Refusal type and the one mapping of errors to the wire's codes (CodeOf: refusals, domain
// errors, the views' NotFound errors, cancellations), the strict JSON decoder, the id check
// and its message, and the reply helpers (ErrorBody, Respond).
package edge
