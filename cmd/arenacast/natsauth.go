package main

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/arenacast/arenacast/broadcaster/natsbus"
)

// natsAuthFlags are serve's flags for an authenticated, TLS-secured
// external NATS (--nats-url). Secrets are read from files (or from the
// files the ARENACAST_NATS_* variables name), never taken on the command
// line.
type natsAuthFlags struct {
	creds, nkeySeed, user, passwordFile, tokenFile *string
	tlsCA, tlsCert, tlsKey                         *string
}

func (f *natsAuthFlags) register(e *envFlags) {
	f.creds = e.String("nats-creds", "", "--nats-url: a NATS .creds file (user JWT and NKey seed)")
	f.nkeySeed = e.String("nats-nkey-seed", "", "--nats-url: a file holding a user NKey seed")
	f.user = e.String("nats-user", "", "--nats-url: user name (with --nats-password-file)")
	f.passwordFile = e.String("nats-password-file", "", "--nats-url: a file holding the password of --nats-user")
	f.tokenFile = e.String("nats-token-file", "", "--nats-url: a file holding an authentication token")
	f.tlsCA = e.String("nats-tls-ca", "", "--nats-url: PEM file of the CAs that sign the NATS servers' certificates")
	f.tlsCert = e.String("nats-tls-cert", "", "--nats-url: client certificate (PEM) for mutual TLS, with --nats-tls-key")
	f.tlsKey = e.String("nats-tls-key", "", "--nats-url: the client certificate's key (PEM)")
}

// connectOptions are the nats.go options for name's connection with
// these flags' credentials and TLS.
func (f *natsAuthFlags) connectOptions(name string) ([]nats.Option, error) {
	a, err := f.auth()
	if err != nil {
		return nil, err
	}
	opts, err := a.ConnectOptions()
	return append(opts, nats.Name(name)), err
}

// auth reads the secret files and returns the bus's Auth.
func (f *natsAuthFlags) auth() (natsbus.Auth, error) {
	a := natsbus.Auth{CredsFile: *f.creds, NKeySeedFile: *f.nkeySeed, User: *f.user,
		TLSCA: *f.tlsCA, TLSCert: *f.tlsCert, TLSKey: *f.tlsKey}
	var err error
	if *f.passwordFile != "" {
		if a.Password, err = natsbus.ReadSecret(*f.passwordFile); err != nil {
			return a, fmt.Errorf("--nats-password-file: %w", err)
		}
	}
	if *f.tokenFile != "" {
		if a.Token, err = natsbus.ReadSecret(*f.tokenFile); err != nil {
			return a, fmt.Errorf("--nats-token-file: %w", err)
		}
	}
	return a, nil
}
