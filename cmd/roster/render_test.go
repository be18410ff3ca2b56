package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestShow(t *testing.T) {
	tests := []struct {
		name        string
		op          string
		query       bool
		reply       string
		code        int
		out, errOut []string
	}{
		{name: "command with events and result", op: "InviteMember",
			reply: `{"ok":true,"position":7,"events":[{"id":"x","type":"InvitationCreated","position":7}],"result":{"invitation_id":"i1"}}`,
			out:   []string{"ok position=7\n", "  InvitationCreated  #7\n", "  invitation_id=i1\n"}},
		{name: "import rows", op: "ImportMembers", code: exitPartial,
			reply: `{"ok":true,"position":9,"events":[{"id":"x","type":"MemberAdded","position":9}],"result":{"rows":[{"row":1,"ok":true},{"row":2,"ok":false,"error":"invalid: bad role"}]}}`,
			out:   []string{"MemberAdded  #9", "row 1  ok", "row 2  error  invalid: bad role"}},
		{name: "refusal", op: "AddMember", reply: `{"ok":false,"error":{"code":"forbidden","message":"no"}}`,
			code: exitRefused, errOut: []string{"error forbidden: no\n"}},
		{name: "refusal without a body", op: "AddMember", reply: `{"ok":false}`, code: exitRefused, errOut: []string{"error unavailable: "}},
		{name: "malformed reply", op: "AddMember", reply: `nope`, code: exitFailure, errOut: []string{"malformed AddMember reply"}},
		{name: "conditional check", op: "Check", query: true,
			reply: `{"ok":true,"position":3,"result":{"decision":"conditional","permission":"task.edit","via":[{"kind":"direct","role":"annotator","scope":"project","project_id":"p1","condition":"created_by"}]}}`,
			out:   []string{"conditional  task.edit\n", "  via direct role=annotator scope=project project=p1 condition=created_by\n"}},
		{name: "members with a group and a next page", op: "ListMembers", query: true,
			reply: `{"ok":true,"position":3,"result":{"members":[{"group_id":"g1","email":"","name":"QA","roles":["viewer"],"grants":["x"],"status":"active","partner_id":"pa"}],"next_page_token":"t2"}}`,
			out:   []string{"USER/GROUP", "group:g1", "viewer,+x", "pa\n", "more: --page-token t2\n"}},
		{name: "WhoCan is a table", op: "WhoCan", query: true,
			reply: `{"ok":true,"position":3,"result":{"users":["ana"]}}`,
			out:   []string{"USER\nana\n"}},
		{name: "explained check shows its events", op: "Check", query: true,
			reply: `{"ok":true,"position":3,"result":{"decision":"allowed","permission":"p","via":[{"kind":"direct","role":"r","events":[{"position":2,"type":"MemberAdded","actor":"ana","time":"2026-01-02T03:04:05Z","command_id":"c1"}]}],"explained_at":3}}`,
			out:   []string{"  via direct role=r\n", "#2", "2026-01-02T03:04:05.000Z", "MemberAdded", "ana", "c1", "explained at position 3"}},
		{name: "status digests", op: "Status", query: true,
			reply: `{"ok":true,"position":3,"result":{"head":3,"projections":[{"name":"members","position":3,"lag":0,"digest":"abc123"}]}}`,
			out:   []string{"DIGEST", "abc123"}},
		{name: "failed import rows", op: "ImportMembers", code: exitPartial,
			reply:  `{"ok":true,"position":9,"result":{"rows":[{"row":1,"ok":true},{"row":2,"ok":false,"error":"bad"}]}}`,
			out:    []string{"row 2  error  bad"},
			errOut: []string{"1 of 2 rows failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := show(tt.op, tt.query, []byte(tt.reply), false, &out, &errOut); code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			for _, want := range tt.out {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, out.String())
				}
			}
			for _, want := range tt.errOut {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("stderr lacks %q: %q", want, errOut.String())
				}
			}
		})
	}
}

func TestShowJSONIsVerbatim(t *testing.T) {
	reply := `{"ok":false,"error":{"code":"conflict","message":"exists"}}`
	var out, errOut bytes.Buffer
	if code := show("CreateProject", false, []byte(reply), true, &out, &errOut); code != exitRefused {
		t.Fatalf("exit %d", code)
	}
	if out.String() != reply+"\n" || errOut.String() != "error conflict: exists\n" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}
