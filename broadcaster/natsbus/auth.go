package natsbus

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Auth says how a node authenticates to an external NATS (Config.URL set)
// and secures the connection. Zero fields are not used; several may be
// combined as the server requires (e.g. TLS with a client certificate plus
// a creds file). Secrets come from files, so they never appear on a
// command line.
type Auth struct {
	// CredsFile is a NATS .creds file (user JWT and NKey seed).
	CredsFile string
	// NKeySeedFile is a file holding a user NKey seed ("SU...").
	NKeySeedFile string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// TLSCA is a PEM file of the CAs that sign the server's certificate;
	// TLSCert and TLSKey, a client certificate and its key (mutual TLS).
	TLSCA, TLSCert, TLSKey string
}

// options turns a into connection options.
func (a Auth) options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.CredsFile != "" {
		if _, err := os.Stat(a.CredsFile); err != nil {
			return nil, fmt.Errorf("natsbus: creds file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("natsbus: NKey seed file: %w", err)
		}
		opts = append(opts, o)
	}
	if a.User != "" || a.Password != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return nil, errors.New("natsbus: a TLS client certificate needs both the certificate and its key")
	}
	if a.TLSCert != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	return opts, nil
}

// ConnectOptions turns a into nats.go connection options, for tools that
// connect to NATS themselves (arenacast publish --nats-url).
func (a Auth) ConnectOptions() ([]nats.Option, error) { return a.options() }

// refused reports whether a connect error is the server refusing our
// credentials or TLS: retrying will not help, so Open fails at once.
func refused(err error) bool {
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "authorization violation") || strings.Contains(msg, "authentication") ||
		strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") || strings.Contains(msg, "secure connection") ||
		// TLS 1.3: a server that rejects the client's certificate (or its
		// absence) does so after the handshake; nats.go names that case.
		strings.Contains(msg, "closed by remote after tls handshake")
}

// ReadSecret reads a secret from a file (its content, trailing line
// breaks trimmed), for flags such as --nats-password-file.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
