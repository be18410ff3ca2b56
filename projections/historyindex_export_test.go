package projections

// SetHistoryChunk sets the chunk size of the index's saved copy (tests save in many chunks).
func SetHistoryChunk(x *HistoryIndex, n int) { x.store.chunk = n }

// HistoryContent is every posting list of the index by organization and key, and its time
// index (positions then times), to compare two indexes.
func HistoryContent(x *HistoryIndex) (map[string]map[string][]uint64, []uint64, []int64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := map[string]map[string][]uint64{}
	for id, o := range x.orgs {
		keys := map[string][]uint64{}
		for k := range o.ends {
			key := string(o.text(uint32(k)))
			keys[key] = o.list(x.seed, key)
		}
		out[id] = keys
	}
	return out, x.positions, x.times
}

// CommandLog is commandLog for the external tests: a memory log the write side appends to.
var CommandLog = commandLog
