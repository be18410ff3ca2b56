package projections

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"roster/domain"
)

// ErrOrgNotFound is what a read of an organization the view does not hold matches
// (errors.Is); the error itself is an *OrgNotFoundError naming the organization.
var ErrOrgNotFound = errors.New("organization not found")

// OrgNotFoundError is a read of an organization the view does not hold. It says nothing of
// the wire: the edge maps it (through NotFound) to not_found.
type OrgNotFoundError struct{ OrgID string }

func (e *OrgNotFoundError) Error() string { return "organization " + e.OrgID + " not found" }

// Is makes the error match ErrOrgNotFound.
func (e *OrgNotFoundError) Is(target error) bool { return target == ErrOrgNotFound }

// NotFound marks the error as a "not found" for the edge.
func (e *OrgNotFoundError) NotFound() bool { return true }

// maxCachedPerOrg bounds one organization's cached decisions; past it the cache starts over.
const maxCachedPerOrg = 1 << 18

type checkKey struct {
	user, project, track, permission string
}

// cachedCheck is a Check answer without resource attributes.
type cachedCheck struct {
	decision   domain.Decision
	permission string
	// until, when set, is the earliest end of a time-bound membership of the organization when
	// the answer was computed: from then on the answer may be stale and is not served.
	until time.Time
}

type orgCache struct {
	entries sync.Map // checkKey → cachedCheck
	n       atomic.Int64
}

// decisionCache remembers Check answers per organization until the organization's next event.
// Entries are written under the view's read lock and dropped under its write lock, so an
// answer computed at one position is never served after the organization changed.
type decisionCache struct {
	orgs sync.Map // org id → *orgCache
}

func (c *decisionCache) get(org string, k checkKey) (cachedCheck, bool) {
	oc, ok := c.orgs.Load(org)
	if !ok {
		return cachedCheck{}, false
	}
	v, ok := oc.(*orgCache).entries.Load(k)
	if !ok {
		return cachedCheck{}, false
	}
	return v.(cachedCheck), true
}

func (c *decisionCache) put(org string, k checkKey, v cachedCheck) {
	oc, _ := c.orgs.LoadOrStore(org, &orgCache{})
	cache := oc.(*orgCache)
	if cache.n.Add(1) > maxCachedPerOrg {
		c.orgs.Delete(org)
		return
	}
	cache.entries.Store(k, v)
}

func (c *decisionCache) invalidate(org string) { c.orgs.Delete(org) }

func (c *decisionCache) clear() { c.orgs.Clear() }

// EnableCheckCache makes the view remember Check answers (the permissions view does).
func (v *View) EnableCheckCache() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cache = &decisionCache{}
}

// Check answers a Check from the view's state, from its cache when the question was asked
// since the organization last changed and carries no resource attributes.
func (v *View) Check(orgID, userID, permission string, s domain.Scope, attrs map[string]string) (domain.Decision, string, uint64, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o := v.orgs[orgID]
	if o == nil || !o.Exists() {
		return domain.Decision{}, "", v.position, &OrgNotFoundError{OrgID: orgID}
	}
	now := v.now()
	k := checkKey{user: userID, project: s.ProjectID, track: s.TrackID, permission: permission}
	if v.cache != nil && len(attrs) == 0 {
		if c, ok := v.cache.get(orgID, k); ok && (c.until.IsZero() || now.Before(c.until)) {
			return c.decision, c.permission, v.position, nil
		}
	}
	o = o.At(now) // memberships whose end has come are gone (domain/expiry.go)
	d, err := o.Check(userID, permission, s, attrs)
	if err != nil {
		return domain.Decision{}, "", v.position, err
	}
	perm, _ := o.ResolvePermission(permission)
	if v.cache != nil && len(attrs) == 0 {
		v.cache.put(orgID, k, cachedCheck{decision: d, permission: perm, until: o.NextExpiry()})
	}
	return d, perm, v.position, nil
}
