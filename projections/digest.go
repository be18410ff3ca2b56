package projections

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"roster/domain"
)

// Digest is a hash of every organization's state, in org id order: two views with the
// same digest answer every question the same way.
func Digest(orgs map[string]*domain.Org) (string, error) {
	ids := make([]string, 0, len(orgs))
	for id, o := range orgs {
		if o.Exists() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		b, err := json.Marshal(orgs[id])
		if err != nil {
			return "", fmt.Errorf("digest %s: %w", id, err)
		}
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Digest returns the view's position and the digest of its state there.
func (v *View) Digest() (uint64, string, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	d, err := Digest(v.orgs)
	return v.position, d, err
}
