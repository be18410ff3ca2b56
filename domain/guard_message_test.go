package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A refusal that explains a guard's break in its own sentence carries the break's words, not
// the guard error's text: the code stays in Error.Code and never appears inside the message.
func TestAcceptInviteWithEndNamesTheLostOwnerInOneSentence(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, dataloop(), projectEv("g1", "gus"),
		&MemberAdded{Target: Target{ProjectID: "g1"}, Principal: Principal{UserID: "gus"}, Email: emailOf("gus"), Roles: []string{"owner"}, Guest: true},
		&InvitationCreated{InvitationID: "dated", UserID: "gus", Roles: []string{"member"}, InvitedBy: "ana",
			ExpiresAt: kitNow.Add(DefaultInviteTTL), MembershipExpiresAt: end})
	s.when(&AcceptInvite{Meta: by("gus"), InvitationID: "dated"}).thenError(CodePreconditionFailed)
	var de *Error
	if !errors.As(s.err, &de) {
		t.Fatalf("error %T is not a domain error", s.err)
	}
	want := "invitation dated offers a membership of organization acme that ends at 2025-03-03T10:00:00Z, " +
		"and at that end project g1 would have no owner left; ask for an invitation without an end"
	if de.Message != want {
		t.Fatalf("message\n got %q\nwant %q", de.Message, want)
	}
	assertNoCodeInside(t, de.Message)
}

// The guard's own refusals keep their fact and remedy, as before.
func TestGuardMessageKeepsFactAndRemedy(t *testing.T) {
	s := given(t, dataloop())
	s.when(&RemoveMember{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "olga"}}).thenError(CodePreconditionFailed)
	var de *Error
	if !errors.As(s.err, &de) {
		t.Fatalf("error %T is not a domain error", s.err)
	}
	if want := "project p1 would have no owner left; give the role to someone else first"; de.Message != want {
		t.Fatalf("message\n got %q\nwant %q", de.Message, want)
	}
	assertNoCodeInside(t, de.Message)
}

func assertNoCodeInside(t *testing.T, msg string) {
	t.Helper()
	for _, c := range []Code{CodeInvalid, CodeNotFound, CodeForbidden, CodeConflict, CodePreconditionFailed, CodeUnavailable} {
		if strings.Contains(msg, string(c)+":") {
			t.Fatalf("message %q repeats the code %s", msg, c)
		}
	}
}
