package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"roster/client"
	"roster/domain"
)

// decodeStrict decodes a result into T refusing unknown fields, and re-encodes it.
func decodeStrict[T any](t *testing.T, name string, rep *client.CommandReply) T {
	t.Helper()
	var out T
	dec := json.NewDecoder(bytes.NewReader(rep.Result))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s: result %s does not decode strictly into %T: %v", name, rep.Result, out, err)
	}
	again, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, rep.Result) {
		t.Errorf("%s: %T re-encodes as %s, the server sent %s", name, out, again, rep.Result)
	}
	if got, err := client.ResultOf[T](rep); err != nil || !reflect.DeepEqual(got, out) {
		t.Errorf("%s: ResultOf = %+v, %v; want %+v", name, got, err, out)
	}
	return out
}

// Each typed command result of the client decodes, field for field, what a real server sends
// for that command, and encodes back to the same bytes.
func TestCommandResultsDecodeWhatTheServerSends(t *testing.T) {
	c, stop, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	meta := client.Meta{OrgID: "dl", Actor: "ann"}
	must := func(name string) func(*client.CommandReply, error) *client.CommandReply {
		return func(rep *client.CommandReply, err error) *client.CommandReply {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return rep
		}
	}

	rep := must("CreateOrganization")(c.CreateOrganization(ctx, client.CreateOrganization{Meta: meta, Kind: "team", Preset: "dataloop"}))
	if got := decodeStrict[client.CreateOrganizationResult](t, "CreateOrganization", rep); got.OrgID != "dl" {
		t.Errorf("CreateOrganization: %+v", got)
	}
	rep = must("CreateWorkgroup")(c.CreateWorkgroup(ctx, client.CreateWorkgroup{Meta: meta, GroupID: "g1", Name: "G"}))
	if got := decodeStrict[client.CreateWorkgroupResult](t, "CreateWorkgroup", rep); got.GroupID != "g1" {
		t.Errorf("CreateWorkgroup: %+v", got)
	}
	rep = must("CreateProject")(c.CreateProject(ctx, client.CreateProject{Meta: meta, ProjectID: "p1", Name: "Probe"}))
	if got := decodeStrict[client.CreateProjectResult](t, "CreateProject", rep); got.ProjectID != "p1" || rep.ProjectID() != "p1" {
		t.Errorf("CreateProject: %+v, ProjectID() %q", got, rep.ProjectID())
	}
	rep = must("InviteMember")(c.InviteMember(ctx, client.InviteMember{Meta: meta, ProjectID: "p1", Email: "dee@dl.test", Roles: []string{"annotator"}}))
	if got := decodeStrict[client.InviteMemberResult](t, "InviteMember", rep); got.InvitationID == "" || rep.InvitationID() != got.InvitationID {
		t.Errorf("InviteMember: %+v, InvitationID() %q", got, rep.InvitationID())
	}
	rep = must("AddPartner")(c.AddPartner(ctx, client.AddPartner{Meta: meta, ProjectID: "p1", PartnerID: "pa", Name: "P", AdminEmail: "x@partner.test"}))
	if got := decodeStrict[client.AddPartnerResult](t, "AddPartner", rep); got.PartnerID != "pa" || got.InvitationID == "" || rep.InvitationID() != got.InvitationID {
		t.Errorf("AddPartner: %+v", got)
	}
	// Tracks and custom roles live in other presets.
	al := client.Meta{OrgID: "al", Actor: "ann"}
	must("CreateOrganization al")(c.CreateOrganization(ctx, client.CreateOrganization{Meta: al, Kind: "team", Preset: "allonia"}))
	must("CreateProject al")(c.CreateProject(ctx, client.CreateProject{Meta: al, ProjectID: "p1", Name: "Probe"}))
	rep = must("CreateTrack")(c.CreateTrack(ctx, client.CreateTrack{Meta: al, ProjectID: "p1", TrackID: "t1", Name: "T"}))
	if got := decodeStrict[client.CreateTrackResult](t, "CreateTrack", rep); got.TrackID != "t1" || rep.TrackID() != "t1" {
		t.Errorf("CreateTrack: %+v, TrackID() %q", got, rep.TrackID())
	}
	au := client.Meta{OrgID: "au", Actor: "ann"}
	must("CreateOrganization au")(c.CreateOrganization(ctx, client.CreateOrganization{Meta: au, Kind: "team", Preset: "aunsight"}))
	rep = must("DefineRole")(c.DefineRole(ctx, client.DefineRole{Meta: au, Role: "r1", Scope: "project"}))
	if got := decodeStrict[client.DefineRoleResult](t, "DefineRole", rep); got.Role == "" {
		t.Errorf("DefineRole: %+v", got)
	}
	rep = must("ImportMembers")(c.ImportMembers(ctx, client.ImportMembers{Meta: meta, ProjectID: "p1",
		CSV: "email,user_id,name,roles,grants\nerin@dl.test,,Erin,annotator,\n,,Nobody,no-such-role,\n"}))
	got := decodeStrict[client.ImportMembersResult](t, "ImportMembers", rep)
	if len(got.Rows) != 2 || !got.Rows[0].OK || got.Rows[0].InvitationID == "" || got.Rows[1].OK || got.Rows[1].Code == "" || got.Failed() != 1 {
		t.Errorf("ImportMembers: %+v", got)
	}
	rep = must("AddOrgMember")(c.AddOrgMember(ctx, client.AddOrgMember{Meta: meta, UserID: "bob"}))
	if string(rep.Result) != "{}" || rep.InvitationID() != "" {
		t.Errorf("AddOrgMember: result %s", rep.Result)
	}
	if _, err := client.ResultOf[client.CreateOrganizationResult](&client.CommandReply{}); err == nil {
		t.Error("ResultOf of a reply without a result succeeded")
	}
}

// jsonFields lists a struct type's JSON field names and options, in order.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, f.Type.Kind().String()+" "+f.Tag.Get("json"))
	}
	return out
}

// The client's result types mirror the service's field for field, in the same order (the
// wire's key order).
func TestCommandResultTypesMirrorTheService(t *testing.T) {
	pairs := []struct{ service, client any }{
		{domain.CreateOrganizationResult{}, client.CreateOrganizationResult{}},
		{domain.CreateWorkgroupResult{}, client.CreateWorkgroupResult{}},
		{domain.CreateProjectResult{}, client.CreateProjectResult{}},
		{domain.InviteMemberResult{}, client.InviteMemberResult{}},
		{domain.CreateTrackResult{}, client.CreateTrackResult{}},
		{domain.AddPartnerResult{}, client.AddPartnerResult{}},
		{domain.DefineRoleResult{}, client.DefineRoleResult{}},
		{domain.ImportMembersResult{}, client.ImportMembersResult{}},
		{domain.ImportRow{}, client.ImportRow{}},
	}
	for _, p := range pairs {
		s, c := reflect.TypeOf(p.service), reflect.TypeOf(p.client)
		if s.Name() != c.Name() || !reflect.DeepEqual(jsonFields(s), jsonFields(c)) {
			t.Errorf("%s %v != client %s %v", s, jsonFields(s), c, jsonFields(c))
		}
	}
}
