package auth

import "testing"

// BenchmarkVerify measures Verify per algorithm with a realistic user token
// and a key set of one key per algorithm.
func BenchmarkVerify(b *testing.B) {
	f := fixture()
	v := newTestVerifier(b, keySetOf(b, f.hs, f.rs, f.es, f.ed), "", "")
	for _, s := range []*Signer{f.hs, f.rs, f.es, f.ed} {
		tok := mint(b, s, userClaims("contestant1"))
		b.Run(s.method.Alg(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
