package board

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Replica is a viewer's copy of a keyed board: a whole board, then the
// delivered patches applied as docs/protocol.md section 8 tells clients
// to. The load tool and the tests use it to check that what viewers build
// is the publisher's board.
type Replica struct {
	b       *Board
	version uint64
}

// ErrGap is returned by Replica.Patch for a patch whose base is not the
// replica's version: a patch was missed, and a fresh board is needed.
var ErrGap = errors.New("patch does not follow the board's version")

// NewReplica starts a replica from a whole board (a scoreboard_update's
// data) at version id.
func NewReplica(data []byte, id uint64) (*Replica, error) {
	b, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return &Replica{b: b, version: id}, nil
}

// Version is the id of the last board or patch applied.
func (r *Replica) Version() uint64 { return r.version }

// Encode returns the board in the publisher's shape.
func (r *Replica) Encode() []byte { return r.b.Encode() }

// Patch applies a delivered patch with its id and base (0: not known). A
// patch at or below the version is stale and ignored (false); a base that
// is not the version is ErrGap.
func (r *Replica) Patch(data []byte, id, base uint64) (bool, error) {
	if id <= r.version {
		return false, nil
	}
	if base != 0 && base != r.version {
		return false, fmt.Errorf("%w: base %d, board at %d", ErrGap, base, r.version)
	}
	d, err := decodeDelivered(data)
	if err != nil {
		return false, fmt.Errorf("%w: delivered patch: %v", ErrBad, err)
	}
	b := r.b
	for _, m := range d.fields {
		i := slices.IndexFunc(b.members, func(x member) bool { return x.name == m.name })
		switch {
		case isNull(m.value) && i >= 0:
			b.members = slices.Delete(b.members, i, i+1)
			if i < b.rowsAt {
				b.rowsAt--
			}
		case isNull(m.value):
		case i >= 0:
			b.members[i].value = m.value
		default:
			b.members = append(b.members, m)
		}
	}
	for _, m := range d.rows {
		_, had := b.rows[m.name]
		switch {
		case isNull(m.value):
			if had {
				delete(b.rows, m.name)
				b.order = slices.DeleteFunc(b.order, func(k string) bool { return k == m.name })
			}
		default:
			b.rows[m.name] = m.value
			if !had {
				b.order = append(b.order, m.name)
			}
		}
	}
	for _, raw := range d.order {
		var moves map[string]int
		if err := json.Unmarshal(raw, &moves); err != nil {
			return false, fmt.Errorf("%w: delivered order: %v", ErrBad, err)
		}
		b.order = Reorder(b.order, moves)
	}
	r.version = id
	return true, nil
}
