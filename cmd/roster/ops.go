package main

import (
	"reflect"
	"strings"

	"roster/client"
)

// op is one command or query of the wire contract, as the typed client declares it.
type op struct {
	Name    string
	Query   bool
	Help    string
	ReqType reflect.Type // the client's request struct (the method's second parameter)
	Flags   []flagSpec
}

// opHelp holds the one-line description of each command and query; the fields come
// from the request types.
func opHelp() map[string]string {
	return map[string]string{
		"CreateOrganization":       "create an organization from a preset; the actor becomes its first admin",
		"AddOrgMember":             "add a user to an organization",
		"ChangeOrgRole":            "change a user's organization role",
		"RemoveOrgMember":          "remove a user from an organization",
		"CreateWorkgroup":          "create a workgroup",
		"AddWorkgroupMember":       "add a user to a workgroup",
		"RemoveWorkgroupMember":    "remove a user from a workgroup",
		"CreateProject":            "create a project (and its first track on presets with tracks)",
		"RenameProject":            "rename a project",
		"SetProjectVisibility":     "make a project private or public",
		"TransferProjectOwnership": "hand a project to a new owner",
		"AddMember":                "add a user or workgroup to a project or track",
		"InviteMember":             "invite someone to a project or track",
		"AcceptInvite":             "accept an invitation",
		"RejectInvite":             "reject an invitation",
		"RevokeInvite":             "withdraw a pending invitation",
		"GrantOrganizationAccess":  "let another NATS account command and query the organization",
		"RevokeOrganizationAccess": "take back an account's access to the organization",
		"ChangeRole":               "replace a member's roles",
		"ExtendMembership":         "move the end of a time-bound membership (--expires-at RFC 3339; empty clears it)",
		"SetMemberGrants":          "replace a member's direct grants",
		"RemoveMember":             "remove a member from a project or track",
		"LeaveProject":             "leave a project (the actor)",
		"ArchiveProject":           "archive a project",
		"UnarchiveProject":         "bring an archived project back",
		"DeleteProject":            "delete a project",
		"CreateTrack":              "create a track in a project",
		"ConfigureTrack":           "change a track's settings",
		"AddPartner":               "add a partner organization to a project",
		"DefineRole":               "define a custom role",
		"SetRolePermissions":       "set a role's permissions",
		"DeleteRole":               "delete a custom role",
		"UpgradePreset":            "move an organization to the preset version this release ships (--dry-run shows who gains and loses what)",
		"ImportMembers":            "add or invite many members from CSV (--csv @members.csv; header email,user_id,name,roles,grants)",
		"Check":                    "may a user do something? allowed, denied or conditional, and why (--explain adds the events)",
		"Permissions":              "every permission a user holds at a scope",
		"WhoCan":                   "every user holding a permission at a scope",
		"ListMembers":              "members of an organization, project or track",
		"ListProjects":             "projects a user belongs to",
		"GetProject":               "one project with its tracks, owners, status and visibility",
		"ListInvitations":          "invitations of an organization, an e-mail or a user",
		"Catalog":                  "an organization's permissions and roles",
		"Audit":                    "one page of an organization's event trail (see also: roster audit)",
		"AccessAt":                 "a user's permissions and roles as of a past time (--at 2h, RFC 3339) or --position",
		"Status":                   "log head and each view's position and lag (--digests adds state digests)",
	}
}

// clientMethod returns the typed client's method for a command or query, if it has one.
func clientMethod(name string) (reflect.Method, bool) {
	return reflect.TypeFor[*client.Client]().MethodByName(name)
}

// wireOps lists every command and query the client names, each with its request type taken
// from the client's typed method. A name without a typed method is left out (the
// completeness test fails on it).
func wireOps() []op {
	var ops []op
	add := func(name string, query bool) {
		m, ok := clientMethod(name)
		if !ok || m.Type.NumIn() < 3 || m.Type.In(2).Kind() != reflect.Struct {
			return
		}
		t := m.Type.In(2)
		help := opHelp()[name]
		if help == "" {
			help = "send " + name
		}
		ops = append(ops, op{Name: name, Query: query, Help: help, ReqType: t, Flags: flagSpecs(name, t)})
	}
	for _, n := range client.CommandNames() {
		add(n, false)
	}
	for _, n := range client.QueryNames() {
		add(n, true)
	}
	return ops
}

// subjectOf is the NATS subject of a command or query.
func subjectOf(o op) string {
	if o.Query {
		return client.QueryPrefix + o.Name
	}
	return client.CommandPrefix + o.Name
}

// fieldKind says how a flag's value becomes JSON.
type fieldKind int

const (
	kindString fieldKind = iota
	kindList             // comma-separated, repeatable → array of strings
	kindNumber           // integer → number
	kindBool             // flag alone, or =true/=false → boolean
	kindObject           // k=v,k=v or a JSON object → object
)

// flagSpec is one flag of a command or query, derived from a request field.
type flagSpec struct {
	Field    string // JSON name
	Parent   string // JSON name of the enclosing object ("" at the top level)
	Flag     string // flag name
	Kind     fieldKind
	Required bool
}

// timeFields take RFC 3339 or a time relative to now (2h, 30m, 7d ago).
func isTimeField(f string) bool { return f == "since" || f == "until" || f == "at" }

// fileFields are the only fields whose value may be @path (a file's content; @- is stdin).
func isFileField(f string) bool { return f == "csv" }

// defaultedOnCreate are fields without omitempty that the server defaults on create commands.
func defaultedOnCreate(f string) bool { return f == "name" || f == "kind" }

// flagSpecs derives the flags of a request type: one per JSON field, embedded structs
// flattened, nested structs' fields flattened too (prefixed with the object's name when the
// plain name is taken: CreateProject's --track-name beside --name).
func flagSpecs(name string, t reflect.Type) []flagSpec {
	var top, nested []flagSpec
	var walk func(t reflect.Type, parent string)
	walk = func(t reflect.Type, parent string) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && ft.Kind() == reflect.Struct && tag == "" {
				walk(ft, parent)
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[struct{}]() && parent == "" && !isTimeType(ft) {
				walk(ft, tag)
				continue
			}
			s := flagSpec{Field: tag, Parent: parent, Kind: kindOfType(ft)}
			s.Required = parent == "" && !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") &&
				!(strings.HasPrefix(name, "Create") && defaultedOnCreate(tag))
			if parent == "" {
				top = append(top, s)
			} else {
				nested = append(nested, s)
			}
		}
	}
	walk(t, "")
	taken := map[string]bool{}
	for i := range top {
		top[i].Flag = flagName(top[i].Field)
		taken[top[i].Flag] = true
	}
	for i := range nested {
		f := flagName(nested[i].Field)
		if taken[f] {
			f = flagName(nested[i].Parent) + "-" + f
		}
		nested[i].Flag = f
		taken[f] = true
	}
	return append(top, nested...)
}

func isTimeType(t reflect.Type) bool { return t.PkgPath() == "time" && t.Name() == "Time" }

func kindOfType(t reflect.Type) fieldKind {
	switch t.Kind() {
	case reflect.Bool:
		return kindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return kindNumber
	case reflect.Slice, reflect.Array:
		return kindList
	case reflect.Map:
		return kindObject
	}
	return kindString
}

// flagName maps a JSON field to its flag: org_id → org-id.
func flagName(field string) string { return strings.ReplaceAll(field, "_", "-") }
