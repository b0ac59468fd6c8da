package auth

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary strings to Verify and VerifyScoreboard. Neither
// may panic, every refusal must be an *Error, and neither may accept a token
// whose signing input (header.payload) and signature are not exactly ones
// this test minted: only the test holds the private keys, so any other
// accepted token would be a forgery. (Base64 allows a few spellings of the
// same signature bytes, so signatures are compared decoded.)
func FuzzVerify(f *testing.F) {
	fx := fixture()
	v := newTestVerifier(f, keySetOf(f, fx.hs, fx.rs, fx.es, fx.ed), "", "")

	minted := make(map[string][]byte) // signing input -> signature bytes
	add := func(tok string) {
		i := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil {
			f.Fatal(err)
		}
		minted[tok[:i]] = sig
		f.Add(tok)
	}
	for _, s := range []*Signer{fx.hs, fx.rs, fx.es, fx.ed} {
		add(mint(f, s, userClaims("contestant1")))
		add(mint(f, s, scoreboardClaims("annual-2024")))
	}
	hs := mint(f, fx.hs, userClaims("contestant1"))
	parts := strings.Split(hs, ".")
	for _, seed := range []string{
		"",
		".",
		"..",
		"a.b.c",
		parts[0] + "." + parts[1] + ".", // signature stripped
		parts[0] + "." + parts[1] + "." + parts[2] + "A", // signature extended
		"eyJhbGciOiJub25lIn0." + parts[1] + ".",          // alg none
		parts[0] + "." + strings.ToUpper(parts[1]) + "." + parts[2],
		mint(f, NewHMACSigner("rs", pkixPEM(f, &fx.rsaKey.PublicKey)), userClaims("root")),
		mint(f, NewHMACSigner("nope", fx.hmacSecret), userClaims("root")),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token)
		checkFuzzResult(t, minted, token, err, p != nil)
		contest, _, err := v.VerifyScoreboard(token)
		checkFuzzResult(t, minted, token, err, contest != "")
	})
}

func checkFuzzResult(t *testing.T, minted map[string][]byte, token string, err error, got bool) {
	t.Helper()
	if err != nil {
		if ReasonOf(err) == "" {
			t.Fatalf("refusal is not an *Error: %v", err)
		}
		if got {
			t.Fatal("a refusal returned a result")
		}
		return
	}
	if !got {
		t.Fatal("success without a result")
	}
	i := strings.LastIndexByte(token, '.')
	want, ok := minted[token[:max(i, 0)]]
	if !ok {
		t.Fatalf("accepted a token whose header and claims were never signed")
	}
	sig, derr := base64.RawURLEncoding.DecodeString(token[i+1:])
	if derr != nil || !bytes.Equal(sig, want) {
		t.Fatalf("accepted a token with a signature that was never made")
	}
}
