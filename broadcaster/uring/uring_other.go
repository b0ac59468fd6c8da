//go:build !linux

package uring

// Ring is a stand-in where io_uring does not exist: New always fails.
type Ring struct{}

// New returns ErrUnsupported: io_uring is Linux's.
func New(entries int) (*Ring, error) { return nil, ErrUnsupported }

// Entries is 0: there is no ring.
func (r *Ring) Entries() int { return 0 }

// Send is never reached (New fails); it reports every op unsupported.
func (r *Ring) Send(ops []Op) error { return ErrUnsupported }

// Close does nothing.
func (r *Ring) Close() error { return nil }
