package main

import (
	"runtime"
	"runtime/debug"
	"time"

	"roster/projections"
)

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// memory builds, in process, the two views a rosterd keeps (members and permissions) from
// generated events until they hold cfg.MemMemberships memberships, and measures the heap
// they take per membership.
func (b *bench) memory() error {
	g, err := newGenerator()
	if err != nil {
		return err
	}
	cfg := b.cfg
	sh := shapeFor(cfg.Orgs, cfg.Users, cfg.Projects, cfg.Memberships)
	before := heapInuse()
	members := projections.NewView("members", b.presets, nil, b.log)
	perms := projections.NewView("permissions", b.presets, nil, b.log)
	t0 := time.Now()
	var pos uint64
	n, orgs := 0, 0
	for i := 0; n < cfg.MemMemberships; i++ {
		p := planOrg(i, sh)
		recs, err := g.records(p)
		if err != nil {
			return err
		}
		for _, r := range recs {
			pos++
			r.Position = pos
			if err := members.Apply(r); err != nil {
				return err
			}
			if err := perms.Apply(r); err != nil {
				return err
			}
		}
		n += p.Memberships
		orgs++
	}
	after := heapInuse()
	runtime.KeepAlive(members)
	runtime.KeepAlive(perms)
	both := float64(after) - float64(before)
	b.rep.set("memory_memberships", float64(n))
	b.rep.set("memory_events", float64(pos))
	b.rep.set("bytes_per_membership", both/float64(n))
	b.rep.set("bytes_per_membership_view", both/2/float64(n))
	b.rep.set("memory_views_heap_mib", both/(1<<20))
	if n < cfg.MemTarget {
		b.rep.note("memory measured at %s memberships (%d organizations) and taken as linear to %s", thousands(float64(n)), orgs, thousands(float64(cfg.MemTarget)))
	}
	b.progress("memory: %d memberships in %d orgs (%d events, built in %s): %.0f B/membership for the two views",
		n, orgs, pos, time.Since(t0).Round(time.Millisecond), both/float64(n))
	return nil
}
