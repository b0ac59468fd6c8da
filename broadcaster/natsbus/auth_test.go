package natsbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// authServer starts a real NATS server with JetStream on loopback, shaped
// by tweak (its authentication and TLS), and returns its client URL.
func authServer(t *testing.T, tweak func(*server.Options)) string {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	tweak(o)
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(waitFor) {
		t.Fatal("nats-server did not start")
	}
	scheme := "nats"
	if o.TLSConfig != nil {
		scheme = "tls"
	}
	return scheme + "://" + ns.Addr().String()
}

// writeFile writes content to a file of the test's and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testPKI makes a CA and a certificate it signs for 127.0.0.1, as PEM
// files, and the server's tls.Config.
func testPKI(t *testing.T) (caFile, certFile, keyFile string, cfg *tls.Config) {
	t.Helper()
	key := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalECPrivateKey(k)
		return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	caKey, _ := key()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, leafKeyPEM := key()
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	caFile = writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	certFile = writeFile(t, "cert.pem", string(certPEM))
	keyFile = writeFile(t, "key.pem", string(leafKeyPEM))
	pair, err := tls.X509KeyPair(certPEM, leafKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return caFile, certFile, keyFile, &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

// TestAuth: a node reaches a real nats-server that requires each kind of
// credential (and TLS with a client certificate), publishes and reads
// back; with a wrong credential Open fails at once with a clear error
// instead of retrying for --nats-connect-timeout.
func TestAuth(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	userKey, _ := user.PublicKey()
	caFile, certFile, keyFile, tlsCfg := testPKI(t)
	operator, creds, strangerCreds := testOperator(t)
	cases := []struct {
		name   string
		server func(*server.Options)
		auth   Auth
		wrong  Auth // refused
	}{
		{"user and password", func(o *server.Options) { o.Username, o.Password = "node", "s3cret" },
			Auth{User: "node", Password: "s3cret"}, Auth{User: "node", Password: "guess"}},
		{"token", func(o *server.Options) { o.Authorization = "t0ken" }, Auth{Token: "t0ken"}, Auth{Token: "nope"}},
		{"nkey", func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: userKey}} },
			Auth{NKeySeedFile: writeFile(t, "user.nk", string(seed))}, Auth{Token: "no-nkey"}},
		{"creds file (operator, account, user JWTs)", operator,
			Auth{CredsFile: writeFile(t, "user.creds", creds)}, Auth{CredsFile: writeFile(t, "stranger.creds", strangerCreds)}},
		{"TLS with a client certificate", func(o *server.Options) { o.TLSConfig, o.TLSVerify = tlsCfg, true },
			Auth{TLSCA: caFile, TLSCert: certFile, TLSKey: keyFile}, Auth{TLSCA: caFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := authServer(t, tc.server)
			b := open(t, Config{URL: url, Auth: tc.auth, DataDir: t.TempDir()})
			id := pub(t, b, "/contest/c1", `{}`)
			if last, err := b.LastID(ctxT(t)); err != nil || last != id {
				t.Fatalf("LastID = %d, %v; want %d", last, err, id)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			_, err = Open(ctx, Config{URL: url, Auth: tc.wrong, ConnectTimeout: time.Hour})
			if err == nil || !strings.Contains(err.Error(), "refused the connection") {
				t.Fatalf("a wrong credential: %v; want a refusal at once", err)
			}
		})
	}
}

// testOperator makes an operator-mode setup: an operator, an account it
// signs (with JetStream) held in a memory resolver, and a user of that
// account as a .creds file. It returns the server's options, that user's
// creds and the creds of a user of an account the server does not know.
func testOperator(t *testing.T) (func(*server.Options), string, string) {
	t.Helper()
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	op, _ := nkeys.CreateOperator()
	opPub := must(op.PublicKey())
	oc, err := jwt.DecodeOperatorClaims(must(jwt.NewOperatorClaims(opPub).Encode(op)))
	if err != nil {
		t.Fatal(err)
	}
	account := func(jetStream bool) (nkeys.KeyPair, string) {
		acc, _ := nkeys.CreateAccount()
		ac := jwt.NewAccountClaims(must(acc.PublicKey()))
		if jetStream {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		return acc, must(ac.Encode(op))
	}
	userCreds := func(acc nkeys.KeyPair) string {
		u, _ := nkeys.CreateUser()
		ujwt := must(jwt.NewUserClaims(must(u.PublicKey())).Encode(acc))
		seed, _ := u.Seed()
		b, err := jwt.FormatUserConfig(ujwt, seed)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	known, knownJWT := account(true)
	unknown, _ := account(true)
	sys, sysJWT := account(false) // JetStream in operator mode needs a system account (without JetStream)
	resolver := &server.MemAccResolver{}
	for acc, j := range map[nkeys.KeyPair]string{known: knownJWT, sys: sysJWT} {
		if err := resolver.Store(must(acc.PublicKey()), j); err != nil {
			t.Fatal(err)
		}
	}
	opts := func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{oc}
		o.AccountResolver = resolver
		o.SystemAccount = must(sys.PublicKey())
	}
	return opts, userCreds(known), userCreds(unknown)
}
