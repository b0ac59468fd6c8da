package natsbus

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ListenAuth secures the embedded server's client listener (Config.Listen)
// so that other nodes and publishers reaching it must authenticate, and
// may be required to use TLS. Choose at most one of the user and
// password, the token and the NKeys; TLS, with or without client
// certificates, combines with any of them. Every client the listener
// admits has full access to the embedded NATS (the stream and the
// buckets, including the shared SSE ticket secret): give its credentials
// only to nodes and trusted publishers.
//
// The embedded node's own connection is in-process and never crosses the
// listener: with a user or NKeys it authenticates with an NKey generated
// at start that the server admits only in-process; with a token, with the
// token.
type ListenAuth struct {
	// User and Password: clients authenticate with this user name and
	// password.
	User, Password string
	// Token: clients authenticate with this token.
	Token string
	// NKeys are the user public NKeys ("U...") clients may authenticate
	// with, each signing the server's challenge with its seed (the seed
	// never crosses the network).
	NKeys []string
	// TLSCert and TLSKey are the server's certificate and key (PEM): with
	// them the listener accepts TLS connections only.
	TLSCert, TLSKey string
	// TLSCA is a PEM file of the CAs that sign client certificates: with
	// it every client must present one (mutual TLS). Needs TLSCert.
	TLSCA string
	// Insecure allows a listener beyond loopback that authenticates no
	// client (no user, token, NKeys or TLSCA). Without it such a listener
	// is refused: anyone who reaches the port could publish events and
	// read the shared secrets.
	Insecure bool
}

// set reports whether any field is set.
func (a ListenAuth) set() bool {
	return a.User != "" || a.Password != "" || a.Token != "" || len(a.NKeys) > 0 ||
		a.TLSCert != "" || a.TLSKey != "" || a.TLSCA != "" || a.Insecure
}

// authenticates reports whether the listener admits only clients that
// prove who they are (a credential or a client certificate).
func (a ListenAuth) authenticates() bool {
	return a.User != "" || a.Token != "" || len(a.NKeys) > 0 || a.TLSCA != ""
}

// check reports a combination the listener cannot use.
func (a ListenAuth) check() error {
	kinds := 0
	for _, set := range []bool{a.User != "" || a.Password != "", a.Token != "", len(a.NKeys) > 0} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return errors.New("natsbus: embedded listener: choose one of a user and password, a token or NKeys")
	case (a.User == "") != (a.Password == ""):
		return errors.New("natsbus: embedded listener: a user needs a password, and a password a user")
	case (a.TLSCert == "") != (a.TLSKey == ""):
		return errors.New("natsbus: embedded listener: TLS needs both the certificate and its key")
	case a.TLSCA != "" && a.TLSCert == "":
		return errors.New("natsbus: embedded listener: client certificates (a TLS CA) need the server's TLS certificate and key")
	}
	for i, k := range a.NKeys {
		if !nkeys.IsValidPublicUserKey(k) {
			// Not quoted: a seed pasted by mistake is a secret.
			return fmt.Errorf("natsbus: embedded listener: NKey %d is not a user public NKey (U...)", i+1)
		}
	}
	return nil
}

// apply configures o (the embedded server's options) for a and returns the
// options the node's in-process connection authenticates with.
func (a ListenAuth) apply(o *server.Options) ([]nats.Option, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if a.TLSCert != "" {
		cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: a.TLSCert, KeyFile: a.TLSKey,
			CaFile: a.TLSCA, Verify: a.TLSCA != ""})
		if err != nil {
			return nil, fmt.Errorf("natsbus: embedded listener TLS: %w", err)
		}
		o.TLS, o.TLSConfig, o.TLSVerify, o.TLSTimeout = true, cfg, a.TLSCA != "", 5
	}
	if a.Token != "" {
		o.Authorization = a.Token
		return []nats.Option{nats.Token(a.Token)}, nil
	}
	if a.User == "" && len(a.NKeys) == 0 {
		return nil, nil
	}
	if a.User != "" {
		o.Users = []*server.User{{Username: a.User, Password: a.Password}}
	}
	for _, k := range a.NKeys {
		o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: k})
	}
	self, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("natsbus: embedded listener: in-process NKey: %w", err)
	}
	pub, err := self.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("natsbus: embedded listener: in-process NKey: %w", err)
	}
	o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: pub,
		AllowedConnectionTypes: map[string]struct{}{jwt.ConnectionTypeInProcess: {}}})
	return []nats.Option{nats.Nkey(pub, self.Sign)}, nil
}

// Loopback reports whether a listen address (host:port) accepts
// connections from this machine only: a loopback IP or "localhost". An
// empty host (all interfaces) is not loopback.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReadNKeys reads a file of user public NKeys, one a line; blank lines and
// lines starting with # are skipped. It fails on anything else, and on a
// file with no key.
func ReadNKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading NKeys: %w", err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !nkeys.IsValidPublicUserKey(line) {
			return nil, fmt.Errorf("reading NKeys: %s line %d: not a user public NKey (U...)", path, n)
		}
		keys = append(keys, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading NKeys: %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("reading NKeys: %s holds no key", path)
	}
	return keys, nil
}
