package domain

// Tenancy room (SPEC §7): which NATS accounts reach an organization, the commands that grant and
// revoke that access, and the secret token that proves an e-mail invitation's invitee.
//
// The account of the caller comes to the decider in Env (the edge reads it from the
// server-stamped Nats-Request-Info), never from a command's payload. An empty Env.Account is the
// insecure mode: there is no tenancy and every rule here lets everything through, as before
// accounts existed.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"
)

// MaxGrantedAccounts bounds the accounts one organization grants access to (its owner aside).
const MaxGrantedAccounts = 64

// MaxInviteTokenLen bounds the token an AcceptInvite or RejectInvite may carry.
const MaxInviteTokenLen = 256

// GrantOrganizationAccess lets another NATS account command and query the organization.
type GrantOrganizationAccess struct {
	Meta
	Account string `json:"account"`
}

// RevokeOrganizationAccess takes back an account's access; the owner account keeps its own.
type RevokeOrganizationAccess struct {
	Meta
	Account string `json:"account"`
}

func (*GrantOrganizationAccess) CommandName() string  { return CmdGrantOrganizationAccess }
func (*RevokeOrganizationAccess) CommandName() string { return CmdRevokeOrganizationAccess }

// OrganizationAccessGranted lets an account reach the organization.
type OrganizationAccessGranted struct {
	Account string `json:"account"`
}

// OrganizationAccessRevoked takes an account's access back.
type OrganizationAccessRevoked struct {
	Account string `json:"account"`
}

func (OrganizationAccessGranted) EventType() string { return EvOrganizationAccessGranted }
func (OrganizationAccessRevoked) EventType() string { return EvOrganizationAccessRevoked }

// ValidAccount reports whether s can name a NATS account in a grant: 1–128 characters of
// A-Z a-z 0-9 _ - (the charset of ids). It takes configuration-file account names such as
// APP_A and the 56-character public keys of operator/JWT mode, and refuses the server's
// internal accounts ($SYS, $G), which are never tenants.
func ValidAccount(s string) bool { return ValidID(s) }

// AccessibleBy reports whether a caller of account (an operator account when operator) may
// command or query the organization: its owner account, an account it granted access to, or
// an operator. An empty account is the insecure mode and reaches everything. An organization
// created in insecure mode has no owner account: with authentication on, only operators reach
// it until an operator grants it to an account.
func (o *Org) AccessibleBy(account string, operator bool) bool {
	switch {
	case account == "" || operator:
		return true
	case o.OwnerAccount != "" && account == o.OwnerAccount:
		return true
	}
	_, granted := slices.BinarySearch(o.Accounts, account)
	return granted
}

// mayManageAccess checks who grants and revokes: the calling account must own the
// organization (or be an operator, or the mode insecure) and the actor must hold the preset's
// organization admin role. It is an account-level rule, not an entry of the preset's authorize
// table: a granted account never passes it, whatever roles its users hold.
func (d *decider) mayManageAccess(cmd, account string) error {
	if !ValidAccount(account) {
		return invalidf("account %q must be 1-128 characters of A-Z a-z 0-9 _ - (a NATS account name or public key)", account)
	}
	if d.env.Account != "" && !d.env.Operator && d.env.Account != d.o.OwnerAccount {
		return forbiddenf("only the account that owns organization %s (or an operator) may %s", d.o.ID, cmd)
	}
	if m := d.o.Members[d.actor]; m == nil || m.Role != d.o.preset.OrgAdminRole {
		return forbiddenf("%s may not %s: only a %s of organization %s may", d.actor, cmd, d.o.preset.OrgAdminRole, d.o.ID)
	}
	return nil
}

func (d *decider) grantAccess(c *GrantOrganizationAccess) (Outcome, error) {
	if err := d.mayManageAccess(CmdGrantOrganizationAccess, c.Account); err != nil {
		return Outcome{}, err
	}
	if c.Account == d.o.OwnerAccount {
		return Outcome{}, conflictf("account %s owns organization %s and has access already", c.Account, d.o.ID)
	}
	if _, granted := slices.BinarySearch(d.o.Accounts, c.Account); granted {
		return Outcome{}, conflictf("account %s already has access to organization %s", c.Account, d.o.ID)
	}
	if len(d.o.Accounts) >= MaxGrantedAccounts {
		return Outcome{}, preconditionf("organization %s already grants access to %d accounts, the limit (MaxGrantedAccounts); revoke one first", d.o.ID, MaxGrantedAccounts)
	}
	return one(&OrganizationAccessGranted{Account: c.Account}), nil
}

func (d *decider) revokeAccess(c *RevokeOrganizationAccess) (Outcome, error) {
	if err := d.mayManageAccess(CmdRevokeOrganizationAccess, c.Account); err != nil {
		return Outcome{}, err
	}
	if c.Account == d.o.OwnerAccount {
		return Outcome{}, preconditionf("account %s owns organization %s; the owner account cannot be revoked", c.Account, d.o.ID)
	}
	if _, granted := slices.BinarySearch(d.o.Accounts, c.Account); !granted {
		return Outcome{}, conflictf("account %s has no granted access to organization %s", c.Account, d.o.ID)
	}
	return one(&OrganizationAccessRevoked{Account: c.Account}), nil
}

// withAccount returns a new sorted slice with account added (a clone may share the old one).
func withAccount(accounts []string, account string) []string {
	i, found := slices.BinarySearch(accounts, account)
	if found {
		return accounts
	}
	return slices.Insert(slices.Clone(accounts), i, account)
}

// withoutAccount returns a new slice without account, nil when it becomes empty.
func withoutAccount(accounts []string, account string) []string {
	out := slices.DeleteFunc(slices.Clone(accounts), func(a string) bool { return a == account })
	if len(out) == 0 {
		return nil
	}
	return out
}

// TokenSHA256 is the hex SHA-256 of an invitation token: what the log keeps of it.
func TokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// issueToken gives an invitation answered by e-mail (no user id) a secret from Env.NewToken,
// records only its hash in the event and returns the token for the command's result. It
// issues nothing when Env has no generator or the invitation names its user.
func (d *decider) issueToken(ev *InvitationCreated) string {
	if d.env.NewToken == nil || ev.UserID != "" {
		return ""
	}
	token := d.env.NewToken()
	if token == "" {
		return ""
	}
	ev.TokenSHA256 = TokenSHA256(token)
	return token
}

// checkInviteToken applies the token rule to an answer of an e-mail invitation. A given token
// must match the invitation's hash (compared in constant time), always; a missing one is
// refused when Env.RequireInviteToken (secured mode) and accepted otherwise (the insecure quick
// start, where actor_email alone answers, as before tokens). A user-id invitation is proven by
// its actor and takes no token.
func (d *decider) checkInviteToken(inv *Invitation, token string) error {
	if inv.UserID != "" {
		return nil
	}
	if len(token) > MaxInviteTokenLen {
		return invalidf("token is longer than %d characters (MaxInviteTokenLen)", MaxInviteTokenLen)
	}
	if token == "" {
		if d.env.RequireInviteToken {
			return forbiddenf("invitation %s's token is required: give the token its inviter received (field token)", inv.ID)
		}
		return nil
	}
	if inv.TokenSHA256 == "" || subtle.ConstantTimeCompare([]byte(TokenSHA256(token)), []byte(inv.TokenSHA256)) != 1 {
		return forbiddenf("the token does not match invitation %s", inv.ID)
	}
	return nil
}

// ReachedBy reports whether a command may be decided on the organization at all: it exists,
// the caller's account reaches it (AccessibleBy) and, for a person of a user account
// (Env.Person), the person may see it (MaySee: an organization member, or a member of one of its
// projects or tracks). Anything else answers the unknown organization's not_found, so that a
// person learns from commands no more than from queries.
//
// The one way in for a person who may not see the organization yet is answering an invitation
// addressed to them: a user-id invitation naming the actor, or an e-mail invitation whose
// address is the command's actor_email and whose token matches (the token is the proof; without
// it the address alone would confirm that the invitation exists). Those go on to the normal
// checks; any other invitation id, known or not, is the unknown organization.
func (o *Org) ReachedBy(cmd Command, env Env) bool {
	if !o.Exists() || !o.AccessibleBy(env.Account, env.Operator) {
		return false
	}
	actor := cmd.CommandMeta().Actor
	if !env.Person || o.MaySee(actor, "") {
		return true
	}
	switch c := cmd.(type) {
	case *AcceptInvite:
		return o.addressedTo(c.InvitationID, actor, c.ActorEmail, c.Token)
	case *RejectInvite:
		return o.addressedTo(c.InvitationID, actor, c.ActorEmail, c.Token)
	}
	return false
}

// addressedTo reports whether the invitation is addressed to the person: by user id, or by
// e-mail with the matching token.
func (o *Org) addressedTo(invitationID, actor, actorEmail, token string) bool {
	inv, ok := o.Invitations[invitationID]
	switch {
	case !ok:
		return false
	case inv.UserID != "":
		return inv.UserID == actor
	case inv.Email == "" || !strings.EqualFold(strings.TrimSpace(actorEmail), inv.Email):
		return false
	}
	return token != "" && len(token) <= MaxInviteTokenLen && inv.TokenSHA256 != "" &&
		subtle.ConstantTimeCompare([]byte(TokenSHA256(token)), []byte(inv.TokenSHA256)) == 1
}
