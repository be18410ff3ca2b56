package client

import (
	"context"
	"iter"
)

// Check asks the Check query.
func (c *Client) Check(ctx context.Context, req Check) (CheckResult, error) {
	var res CheckResult
	_, err := c.Query(ctx, QCheck, req, &res)
	return res, err
}

// Permissions asks the Permissions query.
func (c *Client) Permissions(ctx context.Context, req Permissions) (PermissionsResult, error) {
	var res PermissionsResult
	_, err := c.Query(ctx, QPermissions, req, &res)
	return res, err
}

// WhoCan asks the WhoCan query.
func (c *Client) WhoCan(ctx context.Context, req WhoCan) (WhoCanResult, error) {
	var res WhoCanResult
	_, err := c.Query(ctx, QWhoCan, req, &res)
	return res, err
}

// ListMembers asks for one page of the ListMembers query.
func (c *Client) ListMembers(ctx context.Context, req ListMembers) (MembersPage, error) {
	var res MembersPage
	_, err := c.Query(ctx, QListMembers, req, &res)
	return res, err
}

// ListProjects asks the ListProjects query.
func (c *Client) ListProjects(ctx context.Context, req ListProjects) (ProjectsList, error) {
	var res ProjectsList
	_, err := c.Query(ctx, QListProjects, req, &res)
	return res, err
}

// GetProject asks the GetProject query.
func (c *Client) GetProject(ctx context.Context, req GetProject) (Project, error) {
	var res Project
	_, err := c.Query(ctx, QGetProject, req, &res)
	return res, err
}

// ListInvitations asks the ListInvitations query.
func (c *Client) ListInvitations(ctx context.Context, req ListInvitations) (InvitationsList, error) {
	var res InvitationsList
	_, err := c.Query(ctx, QListInvitations, req, &res)
	return res, err
}

// Catalog asks the Catalog query.
func (c *Client) Catalog(ctx context.Context, req Catalog) (CatalogResult, error) {
	var res CatalogResult
	_, err := c.Query(ctx, QCatalog, req, &res)
	return res, err
}

// Audit asks for one page of the Audit query; the position is the log's head.
func (c *Client) Audit(ctx context.Context, req Audit) (AuditPage, uint64, error) {
	var res AuditPage
	head, err := c.Query(ctx, QAudit, req, &res)
	return res, head, err
}

// AccessAt asks the AccessAt query.
func (c *Client) AccessAt(ctx context.Context, req AccessAt) (AccessAtResult, error) {
	var res AccessAtResult
	_, err := c.Query(ctx, QAccessAt, req, &res)
	return res, err
}

// Status asks the Status query.
func (c *Client) Status(ctx context.Context, req StatusRequest) (Status, error) {
	var res Status
	_, err := c.Query(ctx, QStatus, req, &res)
	return res, err
}

// Rebuild asks the service to rebuild views from the log (roster.admin.Rebuild).
func (c *Client) Rebuild(ctx context.Context, req Rebuild) (RebuildResult, error) {
	body, err := encode(req)
	if err != nil {
		return RebuildResult{}, err
	}
	raw, err := c.Request(ctx, AdminRebuild, body)
	if err != nil {
		return RebuildResult{}, err
	}
	var res RebuildResult
	_, err = decodeQueryReply(QueryReply{}, "Rebuild", raw, &res)
	return res, err
}

// FollowAudit yields the events matching req after req.AfterPosition, page by page, then
// waits for new ones (asking with min_position one past the head, so the server holds the
// request until the log moves on), until ctx ends or an error other than a wait running
// out. An error is yielded once, as the last pair.
func (c *Client) FollowAudit(ctx context.Context, req Audit) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		req.MinPosition = 0
		for {
			page, head, err := c.Audit(ctx, req)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if CodeOf(err) == CodeUnavailable && req.MinPosition > 0 {
					continue // no new event within the wait: ask again
				}
				yield(Event{}, err)
				return
			}
			for _, ev := range page.Events {
				if !yield(ev, nil) {
					return
				}
				req.AfterPosition = ev.Position
			}
			if page.NextAfterPosition > 0 {
				req.AfterPosition, req.MinPosition = page.NextAfterPosition, 0
				continue
			}
			// Up to date: wait for the log to pass what was read.
			req.MinPosition = max(head, req.AfterPosition) + 1
			req.WaitMS = int(MaxFollowWait.Milliseconds())
		}
	}
}
