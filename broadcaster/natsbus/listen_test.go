package natsbus

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// TestListenAuth: an embedded server whose listener requires each kind of
// credential (and TLS, with and without client certificates) still serves
// its own node in-process; a second node that reaches the listener with
// the right credential publishes to the same stream; with a wrong or
// missing one, or without the certificate mutual TLS requires, Open fails
// at once with a clear error instead of retrying.
func TestListenAuth(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	userKey, _ := user.PublicKey()
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	caFile, certFile, keyFile, _ := testPKI(t)
	cases := []struct {
		name   string
		listen ListenAuth
		auth   Auth
		wrong  []Auth // each refused
	}{
		{"user and password", ListenAuth{User: "node", Password: "s3cret"}, Auth{User: "node", Password: "s3cret"},
			[]Auth{{User: "node", Password: "guess"}, {}}},
		{"token", ListenAuth{Token: "t0ken"}, Auth{Token: "t0ken"}, []Auth{{Token: "nope"}, {}}},
		{"NKeys", ListenAuth{NKeys: []string{userKey}}, Auth{NKeySeedFile: writeFile(t, "user.nk", string(seed))},
			[]Auth{{NKeySeedFile: writeFile(t, "other.nk", string(otherSeed))}, {}}},
		{"TLS and a token", ListenAuth{Token: "t0ken", TLSCert: certFile, TLSKey: keyFile}, Auth{Token: "t0ken", TLSCA: caFile},
			[]Auth{{Token: "t0ken"}, {TLSCA: caFile}}}, // the first does not trust the test CA
		{"mutual TLS", ListenAuth{TLSCert: certFile, TLSKey: keyFile, TLSCA: caFile},
			Auth{TLSCA: caFile, TLSCert: certFile, TLSKey: keyFile}, []Auth{{TLSCA: caFile}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := open(t, Config{Listen: "127.0.0.1:0", ListenAuth: tc.listen})
			pub(t, first, "/contest/c1", `{}`) // in-process, through the same server
			url := first.ClientURL()
			if tc.listen.TLSCert != "" && !strings.HasPrefix(url, "tls://") {
				t.Fatalf("ClientURL %s: want tls://", url)
			}
			second := open(t, Config{URL: url, Auth: tc.auth})
			id := pub(t, second, "/contest/c1", `{}`)
			if last, err := first.LastID(ctxT(t)); err != nil || last != id {
				t.Fatalf("the first node's LastID = %d, %v; want %d", last, err, id)
			}
			for i, wrong := range tc.wrong {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				_, err := Open(ctx, Config{URL: url, Auth: wrong, ConnectTimeout: time.Hour})
				cancel()
				if err == nil || !strings.Contains(err.Error(), "refused the connection") {
					t.Fatalf("wrong credential %d: %v; want a refusal at once", i, err)
				}
			}
		})
	}
}

// TestListenInProcessKey: the NKey the node's own connection uses with a
// user or NKeys is admitted in-process only, so it would be useless to
// anyone who reached the listener with it.
func TestListenInProcessKey(t *testing.T) {
	first := open(t, Config{Listen: "127.0.0.1:0", ListenAuth: ListenAuth{User: "node", Password: "s3cret"}})
	key := first.Conn().Opts.Nkey
	if !nkeys.IsValidPublicUserKey(key) {
		t.Fatalf("the in-process connection does not authenticate with an NKey (%q)", key)
	}
	// The network client proves it holds the key by signing: give it the
	// in-process connection's own signer.
	nc, err := nats.Connect(first.ClientURL(), nats.Nkey(key, first.Conn().Opts.SignatureCB), nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("the in-process NKey was admitted over the network")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("over the network: %v; want an authorization violation", err)
	}
}

// TestListenAuthRefused: combinations the listener cannot use, and a
// listener beyond loopback that authenticates nobody, fail before anything
// listens.
func TestListenAuthRefused(t *testing.T) {
	caFile, certFile, keyFile, _ := testPKI(t)
	user, _ := nkeys.CreateUser()
	seed, _ := user.Seed()
	cases := []struct {
		name   string
		cfg    Config
		wanted string
	}{
		{"beyond loopback, nobody authenticated", Config{Listen: "192.0.2.1:4222"}, "beyond loopback"},
		{"all interfaces, server TLS only", Config{Listen: ":4222", ListenAuth: ListenAuth{TLSCert: certFile, TLSKey: keyFile}}, "beyond loopback"},
		{"two kinds", Config{Listen: "127.0.0.1:0", ListenAuth: ListenAuth{Token: "t", User: "u", Password: "p"}}, "choose one"},
		{"user without password", Config{Listen: "127.0.0.1:0", ListenAuth: ListenAuth{User: "u"}}, "needs a password"},
		{"certificate without key", Config{Listen: "127.0.0.1:0", ListenAuth: ListenAuth{TLSCert: certFile}}, "both the certificate"},
		{"client CA without certificate", Config{Listen: "127.0.0.1:0", ListenAuth: ListenAuth{TLSCA: caFile}}, "need the server's TLS"},
		{"a seed instead of a public key", Config{Listen: "127.0.0.1:0", ListenAuth: ListenAuth{NKeys: []string{string(seed)}}}, "not a user public NKey"},
		{"no listener", Config{ListenAuth: ListenAuth{Token: "t"}}, "needs Listen"},
		{"external NATS", Config{URL: "nats://127.0.0.1:1", ListenAuth: ListenAuth{Token: "t"}}, "needs Listen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			b, err := Open(ctxT(t), tc.cfg)
			if err == nil {
				b.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.wanted) || strings.Contains(err.Error(), string(seed)) {
				t.Fatalf("Open: %v; want %q (and no seed)", err, tc.wanted)
			}
		})
	}
}

// TestLoopback: which listen addresses count as this machine only.
func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:4222": true, "127.1.2.3:4222": true, "[::1]:4222": true, "localhost:4222": true,
		":4222": false, "0.0.0.0:4222": false, "[::]:4222": false, "10.0.0.5:4222": false,
		"nats.example.com:4222": false, "127.0.0.1": false,
	} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestReadNKeys: one key a line, comments and blank lines skipped;
// anything else, or no key at all, is an error that does not echo the
// line (it may be a seed pasted by mistake).
func TestReadNKeys(t *testing.T) {
	a, _ := nkeys.CreateUser()
	b, _ := nkeys.CreateUser()
	ak, _ := a.PublicKey()
	bk, _ := b.PublicKey()
	seed, _ := a.Seed()
	got, err := ReadNKeys(writeFile(t, "ok", "# nodes\n"+ak+"\n\n  "+bk+"  \n"))
	if err != nil || len(got) != 2 || got[0] != ak || got[1] != bk {
		t.Fatalf("ReadNKeys = %q, %v", got, err)
	}
	for name, content := range map[string]string{"seed": ak + "\n" + string(seed) + "\n", "empty": "# none\n"} {
		_, err := ReadNKeys(writeFile(t, name, content))
		if err == nil || strings.Contains(err.Error(), string(seed)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ReadNKeys(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}

// TestListenAnyPort: port 0 picks a free port, as for net.Listen (nats-server
// itself reads 0 as 4222), so two embedded servers on 127.0.0.1:0 coexist.
func TestListenAnyPort(t *testing.T) {
	a := open(t, Config{Listen: "127.0.0.1:0"})
	b := open(t, Config{Listen: "127.0.0.1:0"})
	if a.ClientURL() == b.ClientURL() || strings.HasSuffix(a.ClientURL(), ":4222") || strings.HasSuffix(a.ClientURL(), ":0") {
		t.Fatalf("ClientURLs %s and %s: want two free ports", a.ClientURL(), b.ClientURL())
	}
}

// TestListenPortInUse: an embedded listener that cannot open ends Open at
// once with nats-server's reason, rather than after the readiness bound
// with none (what a port collision between tests looked like).
func TestListenPortInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	b, err := Open(ctx, Config{DataDir: t.TempDir(), Listen: held.Addr().String()})
	if err == nil {
		b.Close()
		t.Fatalf("Open on %s, a port in use: no error", held.Addr())
	}
	if msg := err.Error(); !strings.Contains(msg, "did not start") || !strings.Contains(msg, held.Addr().String()) {
		t.Fatalf("Open on %s, a port in use: %v, want nats-server's listen error", held.Addr(), err)
	}
}

// TestRefused: which connect errors end Open at once. The TLS 1.3 case is
// a race in a real handshake (the server rejects a missing client
// certificate after it), so its message is checked here as nats.go
// words it.
func TestRefused(t *testing.T) {
	for msg, want := range map[string]bool{
		"nats: authorization violation": true,
		"nats: tls error: connection closed by remote after TLS handshake: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe": true,
		"remote error: tls: certificate required":                                          true,
		"tls: failed to verify certificate: x509: certificate signed by unknown authority": true,
		"dial tcp 127.0.0.1:4222: connect: connection refused":                             false,
		"nats: no servers available for connection":                                        false,
	} {
		if got := refused(errors.New(msg)); got != want {
			t.Errorf("refused(%q) = %v, want %v", msg, got, want)
		}
	}
}
