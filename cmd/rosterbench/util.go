package main

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
)

func sortLat(l latencies) { slices.Sort(l) }

// shuffle reorders s deterministically.
func shuffle[T any](s []T) {
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}

// interleave reorders toggles so that consecutive ones belong to different organizations
// (round robin over the organizations, each one's order kept).
func interleave(ts []*toggle) {
	var orgs []string
	by := map[string][]*toggle{}
	for _, t := range ts {
		if _, ok := by[t.Org]; !ok {
			orgs = append(orgs, t.Org)
		}
		by[t.Org] = append(by[t.Org], t)
	}
	out := ts[:0:0]
	for len(out) < len(ts) {
		for _, o := range orgs {
			if l := by[o]; len(l) > 0 {
				out = append(out, l[0])
				by[o] = l[1:]
			}
		}
	}
	copy(ts, out)
}

// loadAvg is the machine's 1-minute load average (Linux).
func loadAvg() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}
