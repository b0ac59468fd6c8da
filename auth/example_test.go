package auth_test

import (
	"fmt"
	"time"

	"github.com/arenacast/arenacast/auth"
	"github.com/arenacast/arenacast/protocol"
)

// A platform mints a user token; a broadcaster node verifies it and decides
// what the user sees on a contest channel.
func Example() {
	secret := []byte("an-example-secret-of-32-bytes-or-more")
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

	// Platform side.
	signer := auth.NewHMACSigner("main", secret)
	c := auth.Claims{Contests: []string{"annual-2024"}}
	c.Subject = "contestant1"
	token, err := signer.UserToken(c, time.Hour, now)
	if err != nil {
		panic(err)
	}

	// Broadcaster side.
	keys := auth.NewKeySet()
	if err := keys.AddHMAC("main", secret); err != nil {
		panic(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{Keys: keys, Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	p, err := v.Verify(token)
	if err != nil {
		panic(err)
	}
	ch, _ := protocol.ParseChannel("/contest/annual-2024")
	acc := auth.ChannelAccess(p, ch)
	own := &protocol.Event{Type: protocol.TypeRunUpdate, User: "contestant1"}
	others := &protocol.Event{Type: protocol.TypeRunUpdate, User: "contestant2"}
	fmt.Println(p.User, acc, auth.CanSee(acc, p, own), auth.CanSee(acc, p, others))

	// An expired token is refused with a reason safe to show the client.
	later, _ := auth.NewVerifier(auth.VerifierOptions{Keys: keys, Now: func() time.Time { return now.Add(2 * time.Hour) }})
	_, err = later.Verify(token)
	fmt.Println(auth.ReasonOf(err), err)
	// Output:
	// contestant1 member true false
	// expired token expired
}
