package projections

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"roster/domain"
)

// StoredPosition reads the checkpoint a view has stored (0 when none, or when its format
// is not the code's) without loading its snapshot.
func (v *View) StoredPosition() (uint64, error) {
	pos, _, err := v.StoredCheckpoint()
	return pos, err
}

// StoredCheckpoint is StoredPosition with the hash the checkpoint recorded for the record at
// its position ("" when none: a checkpoint written before the chain). A checkpoint that does
// not decode strictly is ErrSnapshotDamaged.
func (v *View) StoredCheckpoint() (uint64, string, error) {
	if v.db == nil {
		return 0, "", nil
	}
	var m viewMeta
	err := v.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(v.name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) (err error) { m, err = decodeMeta(b); return err })
	})
	if err != nil {
		return 0, "", fmt.Errorf("read checkpoint of %s: %w", v.name, err)
	}
	if m.Format != FormatVersion {
		return 0, "", nil
	}
	return m.Position, m.Hash, nil
}

// CopyFrom makes the view a deep copy of src, which holds the same log folded to the same or a
// later position (at start, one fold serves both views instead of two). stored is the position
// of this view's own stored snapshot: only organizations changed after it are written at the
// next flush.
func (v *View) CopyFrom(src *View, stored uint64) {
	src.mu.RLock()
	orgs := make(map[string]*orgCopy, len(src.orgs))
	for id, o := range src.orgs {
		orgs[id] = &orgCopy{state: o.Clone(), pos: src.orgPos[id]}
	}
	pos, hash := src.position, src.hash
	src.mu.RUnlock()

	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.orgs)
	clear(v.orgPos)
	clear(v.dirty)
	for id, c := range orgs {
		v.orgs[id], v.orgPos[id] = c.state, c.pos
		if c.pos > stored {
			v.dirty[id] = true
		}
	}
	v.position, v.persisted, v.hash = pos, stored, hash
	if v.cache != nil {
		v.cache.clear()
	}
	close(v.applied)
	v.applied = make(chan struct{})
}

type orgCopy struct {
	state *domain.Org
	pos   uint64
}
