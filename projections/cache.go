package projections

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

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

type checkKey struct {
	user, project, track, permission string
}

// DefaultCheckCacheBytes is the decision cache's default memory bound (README "Limits"): the
// estimated bytes of every cached answer together, over all organizations.
const DefaultCheckCacheBytes = 32 << 20

// entryOverhead estimates what one cached answer costs beyond its key and vias (the cache's
// own bookkeeping, the value's fixed fields).
const entryOverhead = 160

// cachedCheck is a Check answer without resource attributes.
type cachedCheck struct {
	decision   domain.Decision
	permission string
	// until, when set, is the earliest end of a time-bound membership of the organization when
	// the answer was computed: from then on the answer may be stale and is not served.
	until time.Time
}

// decisionCache remembers Check answers until their organization's next event, within a
// global memory bound (ristretto: admission and eviction by estimated bytes). An answer's key
// holds its organization's generation; an event bumps the generation under the view's write
// lock, so an answer computed at one position is never served after the organization changed
// (its entry ages out). clear (a rebuild, a copy) bumps the epoch every key holds.
type decisionCache struct {
	c     *ristretto.Cache[string, cachedCheck]
	epoch atomic.Uint64
	gens  sync.Map // org id → *atomic.Uint64
}

func newDecisionCache(maxBytes int64) (*decisionCache, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultCheckCacheBytes
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, cachedCheck]{
		// ten counters per entry of ~250 bytes
		NumCounters:        max(maxBytes/25, 1000),
		MaxCost:            maxBytes,
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("decision cache: %w", err)
	}
	return &decisionCache{c: c}, nil
}

func (c *decisionCache) gen(org string) uint64 {
	g, ok := c.gens.Load(org)
	if !ok {
		return 0
	}
	return g.(*atomic.Uint64).Load()
}

// key encodes the organization, its generation, the epoch and the question, each part
// length-prefixed so no two questions share a key.
func (c *decisionCache) key(org string, k checkKey) string {
	b := make([]byte, 0, 32+len(org)+len(k.user)+len(k.project)+len(k.track)+len(k.permission))
	b = binary.AppendUvarint(b, c.epoch.Load())
	b = binary.AppendUvarint(b, c.gen(org))
	for _, part := range [...]string{org, k.user, k.project, k.track, k.permission} {
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	return string(b)
}

func (c *decisionCache) get(org string, k checkKey) (cachedCheck, bool) {
	return c.c.Get(c.key(org, k))
}

func (c *decisionCache) put(org string, k checkKey, v cachedCheck) {
	key := c.key(org, k)
	cost := int64(len(key) + len(v.permission) + entryOverhead)
	for _, via := range v.decision.Via {
		cost += int64(64 + len(via.Kind) + len(via.Role) + len(via.GroupID) + len(via.Scope) + len(via.ProjectID) + len(via.TrackID) + len(via.Condition))
	}
	c.c.Set(key, v, cost)
}

func (c *decisionCache) invalidate(org string) {
	g, _ := c.gens.LoadOrStore(org, new(atomic.Uint64))
	g.(*atomic.Uint64).Add(1)
}

func (c *decisionCache) clear() { c.epoch.Add(1) }

// EnableCheckCache makes the view remember Check answers (the permissions view does) within
// maxBytes of estimated memory (DefaultCheckCacheBytes when 0).
func (v *View) EnableCheckCache(maxBytes ...int64) {
	var limit int64
	if len(maxBytes) > 0 {
		limit = maxBytes[0]
	}
	c, err := newDecisionCache(limit)
	if err != nil {
		v.log.Warn("decision cache disabled", "err", err)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cache != nil {
		v.cache.c.Close()
	}
	v.cache = c
}

// CheckCacheBytes reports the decision cache's estimated bytes in use and its bound (0, 0
// without a cache).
func (v *View) CheckCacheBytes() (used, bound int64) {
	v.mu.RLock()
	c := v.cache
	v.mu.RUnlock()
	if c == nil {
		return 0, 0
	}
	c.c.Wait()
	return int64(c.c.Metrics.CostAdded() - c.c.Metrics.CostEvicted()), c.c.MaxCost()
}

// CloseCheckCache stops the decision cache's goroutines and drops it.
func (v *View) CloseCheckCache() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cache != nil {
		v.cache.c.Close()
		v.cache = nil
	}
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
