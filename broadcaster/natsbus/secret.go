package natsbus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/broadcaster"
)

// metaBucket is the key-value bucket holding node-shared state.
const metaBucket = "ARENACAST_META"

// SharedSecret returns the 32-byte secret stored under name, creating it
// on first use. Every node on the same NATS gets the same secret.
func (b *Bus) SharedSecret(ctx context.Context, name string) ([]byte, error) {
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      metaBucket,
		Description: "Arenacast node-shared state",
		Replicas:    b.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: key-value bucket %s: %w", metaBucket, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("natsbus: generating %s: %w", name, err)
	}
	if _, err := kv.Create(ctx, name, secret); err == nil {
		return secret, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("natsbus: storing %s: %w", name, err)
	}
	e, err := kv.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("natsbus: reading %s: %w", name, err)
	}
	if len(e.Value()) < 32 {
		return nil, fmt.Errorf("natsbus: stored %s is too short", name)
	}
	return e.Value(), nil
}

// Tickets returns SSE tickets signed with the node-shared ticket secret.
func (b *Bus) Tickets(ctx context.Context, ttl time.Duration) (*broadcaster.HMACTickets, error) {
	secret, err := b.SharedSecret(ctx, "sse-ticket-secret")
	if err != nil {
		return nil, err
	}
	return broadcaster.NewHMACTickets(secret, ttl, nil)
}
