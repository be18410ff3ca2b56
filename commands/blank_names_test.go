package commands_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"roster/client"
)

// A name that shows nothing (white space, Hangul fillers, the combining grapheme joiner) is
// refused invalid in every name field, and the fillers and private-use characters are refused
// in every stored text; nothing is appended (README "Limits").
func TestBlankAndInvisibleNamesAreRefused(t *testing.T) {
	svc, store := limitsService(t)
	blanks := []string{"   ", "\u3164", "\u3000\u00a0", "\u115f", "\u1160", "\uffa0", "\u034f", " \u3164\u2003 "}
	// Every command with a name field, the name standing at NAME.
	bodies := map[string]string{
		"CreateOrganization name":       `{"org_id":"o9","kind":"team","preset":"ica","actor":"tina","name":"NAME"}`,
		"CreateOrganization actor_name": `{"org_id":"o9","kind":"team","preset":"ica","actor":"tina","actor_name":"NAME"}`,
		"CreateProject name":            `{"org_id":"acme","actor":"tina","project_id":"p9","name":"NAME"}`,
		"CreateProject track.name":      `{"org_id":"acme","actor":"tina","project_id":"p9","name":"x","track":{"name":"NAME"}}`,
		"RenameProject name":            `{"org_id":"acme","actor":"tina","project_id":"p1","name":"NAME"}`,
		"CreateTrack name":              `{"org_id":"acme","actor":"tina","project_id":"p1","track_id":"t9","name":"NAME"}`,
		"ConfigureTrack name":           `{"org_id":"acme","actor":"tina","project_id":"p1","track_id":"t9","name":"NAME"}`,
		"CreateWorkgroup name":          `{"org_id":"acme","actor":"tina","group_id":"g9","name":"NAME"}`,
		"AddOrgMember name":             `{"org_id":"acme","actor":"tina","user_id":"u9","email":"u9@x.test","name":"NAME"}`,
		"AddMember name":                `{"org_id":"acme","actor":"tina","project_id":"p1","email":"u9@x.test","roles":["project_viewer"],"name":"NAME"}`,
		"InviteMember name":             `{"org_id":"acme","actor":"tina","project_id":"p1","email":"u9@x.test","roles":["project_viewer"],"name":"NAME"}`,
		"AddPartner name":               `{"org_id":"acme","actor":"tina","project_id":"p1","partner_id":"lab","name":"NAME","admin_email":"a@x.test"}`,
		"AcceptInvite actor_name":       `{"org_id":"acme","actor":"tina","invitation_id":"i9","actor_name":"NAME"}`,
		"RejectInvite actor_name":       `{"org_id":"acme","actor":"tina","invitation_id":"i9","actor_name":"NAME"}`,
	}
	for what, tmpl := range bodies {
		cmd, field, _ := strings.Cut(what, " ")
		for _, blank := range blanks {
			t.Run(what+" "+strconv.QuoteToASCII(blank), func(t *testing.T) {
				before, _ := store.Head(context.Background())
				rep, code := run(t, svc, cmd, strings.Replace(tmpl, "NAME", blank, 1))
				if code != client.CodeInvalid || rep.Error == nil || !strings.Contains(rep.Error.Message, field) {
					t.Fatalf("code %q, want invalid naming %s: %+v", code, field, rep)
				}
				if after, _ := store.Head(context.Background()); after != before {
					t.Fatalf("head moved from %d to %d", before, after)
				}
			})
		}
	}
	// The fillers and private-use characters are refused inside other text too.
	for _, tc := range []struct{ name, cmd, body, want string }{
		{"Hangul filler inside a name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u3164b"}`, "U+3164"},
		{"grapheme joiner inside a name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u034fb"}`, "U+034F"},
		{"private use in a name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\ue000b"}`, "U+E000"},
		{"private use at the end of the range", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"\uf8ff"}`, "U+F8FF"},
		{"private use in a role label", "DefineRole", `{"org_id":"acme","actor":"tina","role":"r1","label":"a\ue123"}`, "U+E123"},
		{"Hangul filler in a role description", "DefineRole", `{"org_id":"acme","actor":"tina","role":"r1","description":"a\uffa0"}`, "U+FFA0"},
		{"Hangul filler in csv", "ImportMembers", `{"org_id":"acme","actor":"tina","project_id":"p1","csv":"email,user_id,name,roles,grants\n,u1,a\u1160b,project_viewer,\n"}`, "U+1160"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, code := run(t, svc, tc.cmd, tc.body)
			if code != client.CodeInvalid || rep.Error == nil || !strings.Contains(rep.Error.Message, tc.want) {
				t.Fatalf("code %q, want invalid naming %s: %+v", code, tc.want, rep)
			}
		})
	}
	// An omitted organization name keeps its default; a name with a visible character passes.
	if rep, code := run(t, svc, "CreateOrganization", `{"org_id":"o8","kind":"team","preset":"ica","actor":"tina"}`); code != "" {
		t.Fatalf("omitted organization name refused: %+v", rep)
	}
	if rep, code := run(t, svc, "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"\u3000a\u00a0"}`); code != "" {
		t.Fatalf("a name with a letter refused: %+v", rep)
	}
}
