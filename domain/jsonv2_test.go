package domain

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// fillEvent sets every exported field of the struct v points to, recursively: strings to
// values naming the field (with characters JSON escapes), slices to two elements, times to
// instants with nanoseconds and a zone, booleans to true, pointers to filled values.
func fillEvent(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type() == reflect.TypeFor[*Preset]() {
			p, ok := kitPresets["neptune"]
			if !ok {
				t.Fatal("no neptune preset")
			}
			v.Set(reflect.ValueOf(p))
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fillEvent(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 29, 17, 4, 5, 123456789, time.FixedZone("x", 3600))))
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fillEvent(t, v.Field(i), path+"."+f.Name)
			}
		}
	case reflect.String:
		v.SetString(path + ` "q" \ <&> é ` + "\u2028")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Int32:
		v.Set(reflect.ValueOf(7).Convert(v.Type()))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fillEvent(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillEvent(t, k, path+".key")
		fillEvent(t, e, path+".value")
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		t.Fatalf("%s: fill a %s", path, v.Kind())
	}
}

// The log's event data was written by encoding/json; DecodeEvent reads it with json v2. Every
// event type, with every field set and with none set, decodes to what encoding/json decodes.
func TestEventsDecodeAsEncodingJSONDoes(t *testing.T) {
	types := 0
	for _, typ := range eventTypes(t) {
		types++
		for _, full := range []bool{true, false} {
			ev, _ := newEvent(typ)
			if full {
				fillEvent(t, reflect.ValueOf(ev).Elem(), typ)
			}
			data, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			want, _ := newEvent(typ)
			if err := json.Unmarshal(data, want); err != nil {
				t.Fatalf("%s: encoding/json: %v", typ, err)
			}
			got, err := DecodeEvent(typ, data)
			if err != nil {
				t.Fatalf("%s: DecodeEvent: %v\n%s", typ, err, data)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (all fields set: %v) decodes differently\n json v2:       %+v\n encoding/json: %+v", typ, full, got, want)
			}
			if full && reflect.DeepEqual(got, reflect.New(reflect.TypeOf(got).Elem()).Interface()) {
				t.Errorf("%s: nothing decoded from %s", typ, data)
			}
		}
	}
	if types < 30 {
		t.Fatalf("only %d event types found", types)
	}
}

// eventTypes lists the event types newEvent knows, read from the Ev constants' values.
func eventTypes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, typ := range []string{EvOrganizationCreated, EvOrgMemberAdded, EvOrgRoleChanged, EvOrgMemberRemoved,
		EvWorkgroupCreated, EvWorkgroupMemberAdded, EvWorkgroupMemberRemoved, EvProjectCreated, EvProjectRenamed,
		EvProjectVisibilitySet, EvProjectArchived, EvProjectUnarchived, EvProjectDeleted, EvTrackCreated,
		EvTrackConfigured, EvMemberAdded, EvRoleChanged, EvGrantsSet, EvMemberRemoved, EvInvitationCreated,
		EvInvitationAccepted, EvInvitationRejected, EvInvitationRevoked, EvInvitationExpired, EvPartnerAdded,
		EvRoleDefined, EvRolePermissionsSet, EvRoleDeleted, EvOrganizationAccessGranted, EvOrganizationAccessRevoked,
		EvPresetUpgraded, EvMembershipExpired, EvMembershipExtended} {
		if _, ok := newEvent(typ); !ok {
			t.Fatalf("newEvent does not know %s", typ)
		}
		out = append(out, typ)
	}
	return out
}

// A view's snapshot of an organization is written by encoding/json and read by json v2 with
// unknown names refused (projections.View.Load): an organization with members, workgroups, projects, tracks, memberships with ends, invitations,
// partners and custom roles reads back as encoding/json reads it.
func TestOrgSnapshotDecodesAsEncodingJSONDoes(t *testing.T) {
	end := kitNow.Add(240 * time.Hour)
	created := orgCreatedEv("neptune", "team", "ana")
	created.PresetDefinition = kitPresets["neptune"] // a recorded preset, read by its own UnmarshalJSON
	created.PresetVersion = created.PresetDefinition.Version()
	s := given(t, created,
		orgMemberEv("bob", "member"), &OrgMemberAdded{UserID: "cy", Role: "member", Email: "cy@example.com", ExpiresAt: end},
		&WorkgroupCreated{GroupID: "g1", Name: "Group \"one\""}, &WorkgroupMemberAdded{GroupID: "g1", UserID: "bob", ExpiresAt: end},
		projectEv("p1", "ana"), trackEv("p1", "t1"),
		memberEv("p1", "bob", "viewer"), trackMemberEv("p1", "t1", "cy", "viewer"),
		&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{GroupID: "g1"}, Roles: []string{"viewer"}, ExpiresAt: end},
		&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: "dee@example.com", Roles: []string{"viewer"}, InvitedBy: "ana",
			ExpiresAt: end, TokenSHA256: "ab", MembershipExpiresAt: end},
		&PartnerAdded{ProjectID: "p1", PartnerID: "acme-partner", Name: "Partner", AdminEmail: "pa@example.com"},
		&RoleDefined{Role: "auditor", Label: "Auditor", Scope: "project", Description: "reads"},
		&RolePermissionsSet{Role: "auditor", Permissions: []string{"project.content.view"}},
	)
	data, err := json.Marshal(s.org)
	if err != nil {
		t.Fatal(err)
	}
	var want, got Org
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	// As a view loads a snapshot: a name the state does not have is refused.
	if err := jsonv2.Unmarshal(data, &got, jsonv2.RejectUnknownMembers(true)); err != nil {
		t.Fatalf("json v2: %v", err)
	}
	if !reflect.DeepEqual(&got, &want) {
		t.Fatalf("the snapshot decodes differently\n json v2:       %+v\n encoding/json: %+v", got, want)
	}
	if got.PresetDefinition == nil || got.PresetVersion == "" || len(got.Members) < 3 || len(got.Projects) != 1 || len(got.Invitations) != 1 || len(got.Workgroups) != 1 || len(got.CustomRoles) != 1 {
		t.Fatalf("the state is not the one built: %s", data)
	}
}
