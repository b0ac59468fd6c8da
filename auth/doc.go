// Package auth decides who a connection is and what it may see.
//
// It has three parts, one file each:
//
//   - Keys and verification (keys.go, verify.go): a KeySet holds the
//     verification keys, each bound to exactly one JWT algorithm by its type,
//     and a Verifier turns a compact JWT into a Principal (user tokens) or a
//     contest alias (scoreboard tokens). Refusals are *Error values whose
//     Reason is safe to count and whose text is safe to send to clients.
//   - Minting (sign.go): a Signer mints user and scoreboard tokens for the
//     `arenacast token` command and for tests.
//   - Policy (policy.go): ChannelAccess and CanSee are the only place that
//     decides access. Live delivery, replay and snapshots all go through
//     CanSee, so they cannot disagree.
//
// docs/protocol.md sections 2 and 3 are the contract this package implements.
// Nothing here logs, and no error text ever contains a token or a key.
package auth
