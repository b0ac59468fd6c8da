package main

import (
	"errors"
	"fmt"

	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// natsListenFlags are serve's flags that secure the embedded NATS's
// --nats-listen, so that a second node or a publisher joins it only with a
// credential (and over TLS). Secrets are read from files, never taken on
// the command line.
type natsListenFlags struct {
	user, passwordFile, tokenFile, nkeys *string
	tlsCert, tlsKey, tlsCA               *string
	insecure                             *bool
}

func (f *natsListenFlags) register(e *envFlags) {
	f.user = e.String("nats-listen-user", "", "--nats-listen: clients must log in as this user (with --nats-listen-password-file)")
	f.passwordFile = e.String("nats-listen-password-file", "", "--nats-listen: a file holding the password of --nats-listen-user")
	f.tokenFile = e.String("nats-listen-token-file", "", "--nats-listen: a file holding the token clients must present")
	f.nkeys = e.String("nats-listen-nkeys", "", "--nats-listen: a file of the user public NKeys (U...) clients may authenticate with, one a line")
	f.tlsCert = e.String("nats-listen-tls-cert", "", "--nats-listen: server certificate (PEM); with it clients must use TLS")
	f.tlsKey = e.String("nats-listen-tls-key", "", "--nats-listen: the server certificate's key (PEM)")
	f.tlsCA = e.String("nats-listen-tls-ca", "", "--nats-listen: PEM CAs that sign client certificates; with it every client must present one (mutual TLS)")
	f.insecure = e.Bool("nats-listen-insecure", false, "--nats-listen: allow an address beyond loopback that authenticates no client (anyone reaching it can publish and read the shared secrets)")
}

// check refuses combinations that cannot work, before anything starts.
func (f *natsListenFlags) check(listen, url string) error {
	set := *f.user != "" || *f.passwordFile != "" || *f.tokenFile != "" || *f.nkeys != "" ||
		*f.tlsCert != "" || *f.tlsKey != "" || *f.tlsCA != "" || *f.insecure
	kinds := 0
	for _, k := range []bool{*f.user != "" || *f.passwordFile != "", *f.tokenFile != "", *f.nkeys != ""} {
		if k {
			kinds++
		}
	}
	authenticates := kinds > 0 || *f.tlsCA != ""
	switch {
	case set && url != "":
		return errors.New("--nats-listen-* secure the embedded NATS: they do not go with --nats-url (use --nats-user, --nats-tls-ca, ... for an external NATS)")
	case set && listen == "":
		return errors.New("--nats-listen-* secure the embedded NATS's listener: they need --nats-listen")
	case kinds > 1:
		return errors.New("give one of --nats-listen-user (with --nats-listen-password-file), --nats-listen-token-file or --nats-listen-nkeys")
	case (*f.user == "") != (*f.passwordFile == ""):
		return errors.New("--nats-listen-user and --nats-listen-password-file go together")
	case (*f.tlsCert == "") != (*f.tlsKey == ""):
		return errors.New("--nats-listen-tls-cert and --nats-listen-tls-key go together")
	case *f.tlsCA != "" && *f.tlsCert == "":
		return errors.New("--nats-listen-tls-ca (client certificates) needs --nats-listen-tls-cert and --nats-listen-tls-key")
	case listen != "" && url == "" && !natsbus.Loopback(listen) && !authenticates && !*f.insecure:
		return fmt.Errorf("--nats-listen %s is reachable beyond loopback but authenticates no client: add --nats-listen-user, "+
			"--nats-listen-token-file, --nats-listen-nkeys or --nats-listen-tls-ca (or --nats-listen-insecure to accept anyone)", listen)
	}
	return nil
}

// auth reads the secret files and returns the embedded listener's
// ListenAuth.
func (f *natsListenFlags) auth() (natsbus.ListenAuth, error) {
	a := natsbus.ListenAuth{User: *f.user, TLSCert: *f.tlsCert, TLSKey: *f.tlsKey, TLSCA: *f.tlsCA, Insecure: *f.insecure}
	var err error
	if *f.passwordFile != "" {
		if a.Password, err = natsbus.ReadSecret(*f.passwordFile); err != nil {
			return a, fmt.Errorf("--nats-listen-password-file: %w", err)
		}
		if a.Password == "" {
			return a, errors.New("--nats-listen-password-file: the file is empty")
		}
	}
	if *f.tokenFile != "" {
		if a.Token, err = natsbus.ReadSecret(*f.tokenFile); err != nil {
			return a, fmt.Errorf("--nats-listen-token-file: %w", err)
		}
		if a.Token == "" {
			return a, errors.New("--nats-listen-token-file: the file is empty")
		}
	}
	if *f.nkeys != "" {
		if a.NKeys, err = natsbus.ReadNKeys(*f.nkeys); err != nil {
			return a, fmt.Errorf("--nats-listen-nkeys: %w", err)
		}
	}
	return a, nil
}
