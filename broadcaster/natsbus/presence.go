package natsbus

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/arenacast/arenacast/broadcaster/presence"
)

// PresenceSubject is the core NATS subject (under the prefix) on which
// every node publishes its presence summary every interval. It is outside
// the stream's subjects: summaries are never stored, and each node sends
// one message per interval whatever its number of connections.
func PresenceSubject(prefix string) string { return prefix + ".presence" }

// presenceLink is presence.Link on the bus's NATS connection.
type presenceLink struct {
	nc      *nats.Conn
	subject string
}

var _ presence.Link = presenceLink{}

// PresenceLink is the link the nodes of one deployment (one NATS, one
// subject prefix) exchange presence summaries over.
func (b *Bus) PresenceLink() presence.Link {
	return presenceLink{nc: b.nc, subject: PresenceSubject(b.cfg.Prefix)}
}

func (l presenceLink) Publish(data []byte) error {
	if err := l.nc.Publish(l.subject, data); err != nil {
		return fmt.Errorf("natsbus: publishing presence to %s: %w", l.subject, err)
	}
	return nil
}

func (l presenceLink) Subscribe(fn func([]byte)) (func(), error) {
	sub, err := l.nc.Subscribe(l.subject, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribing to %s: %w", l.subject, err)
	}
	return func() { sub.Unsubscribe() }, nil
}

func (l presenceLink) MaxPayload() int { return int(l.nc.MaxPayload()) }
