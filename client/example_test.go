package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/daemon"
)

// startServer runs a Roster daemon (NATS, Badger, views) in a temporary directory on a
// random port and returns a client on it and the function that stops both.
func startServer() (*client.Client, func(), error) {
	dir, err := os.MkdirTemp("", "roster-client-*")
	if err != nil {
		return nil, nil, fmt.Errorf("temp dir: %w", err)
	}
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), FlushEvery: 5 * time.Millisecond})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("start daemon: %w", err)
	}
	nc, err := nats.Connect(d.URL)
	if err != nil {
		d.Close()
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	return client.New(nc), func() { nc.Close(); d.Close(); _ = os.RemoveAll(dir) }, nil
}

// A Neptune team: an organization, a member, a project she contributes to, and a Check.
func Example() {
	c, stop, err := startServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()
	meta := client.Meta{OrgID: "acme", Actor: "ana"}
	steps := []func() (*client.CommandReply, error){
		func() (*client.CommandReply, error) {
			return c.CreateOrganization(ctx, client.CreateOrganization{Meta: meta, Name: "Acme", Kind: "team", Preset: "neptune"})
		},
		func() (*client.CommandReply, error) {
			return c.AddOrgMember(ctx, client.AddOrgMember{Meta: meta, UserID: "cid", Email: "cid@acme.test", Name: "Cid", Role: "member"})
		},
		func() (*client.CommandReply, error) {
			return c.CreateProject(ctx, client.CreateProject{Meta: meta, ProjectID: "p1", Name: "Churn", Visibility: "private"})
		},
		func() (*client.CommandReply, error) {
			return c.AddMember(ctx, client.AddMember{Meta: meta, MemberRef: client.MemberRef{ProjectID: "p1", UserID: "cid"}, Roles: []string{"contributor"}})
		},
	}
	var last *client.CommandReply
	for _, step := range steps {
		if last, err = step(); err != nil {
			fmt.Println(err)
			return
		}
	}
	res, err := c.Check(ctx, client.Check{OrgID: "acme", ProjectID: "p1", UserID: "cid", Permission: "Editing project content",
		MinPosition: last.Position})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Decision, res.Via[0].Kind, res.Via[0].Role, res.Via[0].Scope)

	// A refusal carries the wire's code.
	_, err = c.AddMember(ctx, client.AddMember{Meta: meta, MemberRef: client.MemberRef{ProjectID: "p1", UserID: "zed"}, Roles: []string{"viewer"}})
	fmt.Println(client.CodeOf(err))
	// Output:
	// allowed direct contributor project
	// precondition_failed
}

func ExampleClient_ListMembers() {
	c, stop, err := startServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()
	meta := client.Meta{OrgID: "acme", Actor: "ana"}
	if _, err := c.CreateOrganization(ctx, client.CreateOrganization{Meta: meta, Name: "Acme", Kind: "team", Preset: "neptune",
		ActorEmail: "ana@acme.test", ActorName: "Ana"}); err != nil {
		fmt.Println(err)
		return
	}
	rep, err := c.AddOrgMember(ctx, client.AddOrgMember{Meta: meta, UserID: "bob", Email: "bob@acme.test", Name: "Bob", Role: "member"})
	if err != nil {
		fmt.Println(err)
		return
	}
	page, err := c.ListMembers(ctx, client.ListMembers{OrgID: "acme", MinPosition: rep.Position})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range page.Members {
		fmt.Println(m.UserID, m.Email, m.Roles, m.Status)
	}
	// Output:
	// ana ana@acme.test [admin] active
	// bob bob@acme.test [member] active
}

// FollowAudit yields the trail's events, then waits for new ones.
func ExampleClient_FollowAudit() {
	c, stop, err := startServer()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	meta := client.Meta{OrgID: "acme", Actor: "ana"}
	if _, err := c.CreateOrganization(ctx, client.CreateOrganization{Meta: meta, Name: "Acme", Kind: "team", Preset: "neptune"}); err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	for ev, err := range c.FollowAudit(ctx, client.Audit{OrgID: "acme"}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Type, ev.Actor)
		if n++; n == 1 {
			// Appended after the follow started: the iterator waits for it.
			if _, err := c.CreateWorkgroup(ctx, client.CreateWorkgroup{Meta: meta, GroupID: "g1", Name: "Data"}); err != nil {
				fmt.Println(err)
				return
			}
		}
		if ev.Type == "WorkgroupCreated" {
			break
		}
	}
	// Output:
	// OrganizationCreated ana
	// WorkgroupCreated ana
}
