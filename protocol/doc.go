// Package protocol defines Arenacast's wire contract with no I/O: channel
// names and their NATS subjects, the events publishers send, the messages
// clients and servers exchange over WebSocket and SSE, error codes and close
// codes. Every other package speaks in these types; docs/protocol.md is the
// prose version of the same contract.
package protocol
