package auth

import "testing"

// BenchmarkVerify measures a token's check (Verify without its cache) per
// algorithm with a realistic user token and a key set of one key per
// algorithm, and then Verify of a token it remembers (a reconnect).
func BenchmarkVerify(b *testing.B) {
	f := fixture()
	v := newTestVerifier(b, keySetOf(b, f.hs, f.rs, f.es, f.ed), "", "")
	for _, s := range []*Signer{f.hs, f.rs, f.es, f.ed} {
		tok := mint(b, s, userClaims("contestant1"))
		b.Run(s.method.Alg(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	tok := mint(b, f.ed, userClaims("contestant1"))
	b.Run("remembered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyPublisher is a publisher's token presented again (one
// POST /publish after another): remembered, against the EdDSA check.
func BenchmarkVerifyPublisher(b *testing.B) {
	f := fixture()
	v := newTestVerifier(b, keySetOf(b, f.ed), "", "")
	c := userClaims("grader")
	c.Publish = true
	tok := mint(b, f.ed, c)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.VerifyPublisher(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
