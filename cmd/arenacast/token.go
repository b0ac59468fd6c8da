package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/arenacast/arenacast/auth"
)

// Token is `arenacast token`: mint a user, publisher or scoreboard token
// from a private key or HMAC secret, for development and tests.
type Token struct {
	Stdout, Stderr io.Writer

	key, user, scoreboard, issuer, audience string
	contests, contestAdmin                  multi
	problems, problemAdmin                  multi
	siteAdmin, publish                      bool
	ttl                                     time.Duration
}

// ParseFlags reads the command line.
func (c *Token) ParseFlags(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	e := &envFlags{fs: fs}
	key := e.String("key", "testdata/devkeys/dev.pem", "signing key: a *.pem private key or a *.secret HMAC secret (kid = file name)")
	fs.StringVar(&c.user, "user", "", "username (sub)")
	fs.Var(&c.contests, "contest", "contest the user participates in (repeatable, or comma-separated)")
	fs.Var(&c.contestAdmin, "contest-admin", "contest the user administers (repeatable)")
	fs.Var(&c.problems, "problem", "problem the user may view (repeatable)")
	fs.Var(&c.problemAdmin, "problem-admin", "problem the user administers (repeatable)")
	fs.BoolVar(&c.siteAdmin, "site-admin", false, "the user is a site admin")
	fs.BoolVar(&c.publish, "publish", false, "the token may publish events (POST /publish)")
	fs.StringVar(&c.scoreboard, "scoreboard", "", "mint a public scoreboard token for this contest instead of a user token")
	fs.StringVar(&c.issuer, "issuer", "", "iss claim")
	fs.StringVar(&c.audience, "audience", "", "aud claim")
	fs.DurationVar(&c.ttl, "ttl", time.Hour, "lifetime")
	if err := parseFlags(fs, args, c.Stdout); err != nil {
		return err
	}
	c.key = *key
	if (c.user == "") == (c.scoreboard == "") {
		return errors.New("give exactly one of --user or --scoreboard")
	}
	return nil
}

// Run prints the token.
func (c *Token) Run(context.Context) error {
	s, err := auth.LoadSigner(c.key)
	if err != nil {
		return err
	}
	if c.issuer != "" || c.audience != "" {
		var aud []string
		if c.audience != "" {
			aud = []string{c.audience}
		}
		s = s.WithIssuer(c.issuer, aud...)
	}
	now := time.Now()
	var tok string
	if c.scoreboard != "" {
		tok, err = s.ScoreboardToken(c.scoreboard, c.ttl, now)
	} else {
		claims := auth.Claims{
			SiteAdmin: c.siteAdmin, Publish: c.publish,
			Contests: c.contests, ContestsAdmin: c.contestAdmin,
			Problems: c.problems, ProblemsAdmin: c.problemAdmin,
		}
		claims.Subject = c.user
		tok, err = s.UserToken(claims, c.ttl, now)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.Stdout, tok)
	return err
}

// Close does nothing.
func (c *Token) Close() error { return nil }
