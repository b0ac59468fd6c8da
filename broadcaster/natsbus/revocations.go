package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arenacast/arenacast/broadcaster"
)

// RevocationBucket is the key-value bucket of revocations. A platform may
// write it directly: `nats kv put ARENACAST_REVOCATIONS user.alice
// 1735689600` (a KV put is a publish on
// $KV.ARENACAST_REVOCATIONS.<key>).
const RevocationBucket = "ARENACAST_REVOCATIONS"

// Revocations is the revocation bucket: a broadcaster.RevocationStore and
// the watch that feeds every node.
type Revocations struct {
	kv jetstream.KeyValue
}

var _ broadcaster.RevocationStore = (*Revocations)(nil)

// Revocations opens (or creates) the bucket; entries expire after ttl,
// which must exceed the longest token lifetime.
func (b *Bus) Revocations(ctx context.Context, ttl time.Duration) (*Revocations, error) {
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      RevocationBucket,
		Description: "Arenacast revocations: key user.<u>, contest.<u>.<alias> or problem.<u>.<alias>; value Unix seconds",
		TTL:         ttl,
		Replicas:    b.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: revocation bucket: %w", err)
	}
	return &Revocations{kv: kv}, nil
}

// Revoke stores r.
func (rv *Revocations) Revoke(ctx context.Context, r broadcaster.Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := rv.kv.Put(ctx, r.Key(), []byte(strconv.FormatInt(r.Before.Unix(), 10)))
	if err != nil {
		return fmt.Errorf("natsbus: storing revocation %s: %w", r.Key(), err)
	}
	return nil
}

// Watch feeds srv every revocation in the bucket, then every change, until
// ctx ends. It returns once the existing entries have been applied.
func (rv *Revocations) Watch(ctx context.Context, srv *broadcaster.Server, bad func(key string, err error)) error {
	w, err := rv.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("natsbus: watching revocations: %w", err)
	}
	initial := make(chan struct{})
	go func() {
		defer w.Stop()
		caughtUp := false
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // end of the initial values
					if !caughtUp {
						caughtUp = true
						close(initial)
					}
					continue
				}
				if e.Operation() != jetstream.KeyValuePut {
					srv.ForgetRevocation(e.Key())
					continue
				}
				r, err := broadcaster.ParseRevocation(e.Key(), e.Value())
				if err != nil {
					bad(e.Key(), err)
					continue
				}
				srv.ApplyRevocation(r)
			}
		}
	}()
	select {
	case <-initial:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("natsbus: reading existing revocations timed out")
	}
}
