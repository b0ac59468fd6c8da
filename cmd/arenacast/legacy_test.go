package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLegacyFlags: the --legacy-* flags refuse incomplete combinations.
func TestLegacyFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--legacy-refresh-interval", "2s"}, "need --legacy-frontend-url"},
		{[]string{"--legacy-frontend-url", "http://f/", "--legacy-refresh-interval", "2s"}, "needs --legacy-refresh-token"},
		{[]string{"--legacy-frontend-url", "http://f/", "--legacy-tls-cert", "c.pem"}, "go together"},
		{[]string{"--legacy-frontend-url", "http://f/", "--legacy-tls-cert", "c.pem", "--legacy-tls-key", "k.pem"}, "need --legacy-internal-listen"},
		{[]string{"--legacy-frontend-url", "http://f/", "--legacy-internal-listen", ":0", "--legacy-client-ca", "ca.pem"}, "needs --legacy-tls-cert"},
		{[]string{"--legacy-frontend-url", "http://f/", "--legacy-internal-listen", ":0"}, ""},
	} {
		s := &Serve{Stdout: io.Discard, Stderr: io.Discard}
		err := s.ParseFlags(context.Background(), append([]string{"--keys", "k"}, tc.args...))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestLegacyMutualTLS runs serve with the publisher side on an internal
// listener that requires client certificates, as omegaUp's backend
// connects to its broadcaster: a backend with a certificate the CA signed
// publishes; one without cannot even connect.
func TestLegacyMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "test CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := newCert(t, ca, caKey, "omegaup-backend", false)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", certPEM(ca))
	certFile, keyFile := write("srv.pem", certPEM(srvCert)), write("srv.key", keyPEM(t, srvKey))
	keys, _ := filepath.Abs("../../testdata/devkeys")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	served := make(chan int, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--keys", keys,
			"--shutdown-drain", "10ms", "--legacy-frontend-url", "http://127.0.0.1:9/", "--legacy-internal-listen", "127.0.0.1:0",
			"--legacy-tls-cert", certFile, "--legacy-tls-key", keyFile, "--legacy-client-ca", caFile,
			"--metrics-listen", "127.0.0.1:0"}, &out, &out)
	}()
	addrRe := regexp.MustCompile(`broadcast=(127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(serveStartWithin); addr == ""; {
		if m := addrRe.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-served:
			t.Fatalf("serve exited with %d: %s", code, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no internal listener: %s", out.String())
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	envelope := []byte(`{"contest":"c1","problemset":7,"public":true,"message":"{\"message\":\"/scoreboard/update/\",\"scoreboard\":{}}"}`)
	post := func(withCert bool) (*http.Response, error) {
		tc := &tls.Config{RootCAs: pool}
		if withCert {
			tc.Certificates = []tls.Certificate{{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 20 * time.Second}
		return c.Post("https://"+addr+"/broadcast/", "application/json", bytes.NewReader(envelope))
	}
	resp, err := post(true)
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
		t.Fatalf("with a client certificate: %d %s", resp.StatusCode, body)
	}
	if resp, err := post(false); err == nil {
		resp.Body.Close()
		t.Fatalf("without a client certificate: %d, want a refused handshake", resp.StatusCode)
	}
	// The drop-in's own counters are on /metrics beside the node's.
	metricsRe := regexp.MustCompile(`"metrics listening" addr=(\S+)`)
	var m []string
	for deadline := time.Now().Add(serveStartWithin); m == nil; m = metricsRe.FindStringSubmatch(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no metrics address in the log: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err = http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `arenacast_legacy_broadcasts_total{result="published"} 1`; !strings.Contains(string(body), want) {
		t.Fatalf("/metrics without %q", want)
	}
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited with %d: %s", code, out.String())
	}
}

// newCert makes a P-256 certificate signed by parent (self-signed when nil).
func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b})
}
