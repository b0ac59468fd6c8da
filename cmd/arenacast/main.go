// Command arenacast is the Arenacast broadcaster and its tools:
//
//	arenacast serve     run a broadcaster node
//	arenacast token     mint a development or test token
//	arenacast publish   put one event (or, with --ndjson, every event of stdin) on the stream
//	arenacast listen    print the events of channels (a minimal client)
//	arenacast --version the module version and commit it was built from
//	arenacast ccs-follow  follow a CCS Contest API event feed onto the stream
//
// main only wires: signals and exit codes; each subcommand is a type with
// ParseFlags, Run and Close so tests run the real program.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: arenacast <command> [flags]

commands:
  serve     run a broadcaster node (embedded NATS unless --nats-url)
  token     mint a token for development and tests
  publish   put one event, or NDJSON events from stdin, on the stream (NATS or HTTP)
  listen    connect, subscribe and print events (a minimal client)
  ccs-follow  follow a CCS Contest API event feed onto the stream (docs/ccs.md)

Run 'arenacast <command> --help' for a command's flags, 'arenacast --version'
for the build.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command interface {
	ParseFlags(ctx context.Context, args []string) error
	Run(ctx context.Context) error
	Close() error
}

// run executes one subcommand and returns the exit code: 0 ok, 1 failure,
// 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var cmd command
	switch args[0] {
	case "serve":
		cmd = &Serve{Stdout: stdout, Stderr: stderr}
	case "token":
		cmd = &Token{Stdout: stdout, Stderr: stderr}
	case "publish":
		cmd = &Publish{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}
	case "listen":
		cmd = &Listen{Stdout: stdout, Stderr: stderr}
	case "ccs-follow":
		cmd = &CCSFollow{Stdout: stdout, Stderr: stderr}
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, versionLine())
		return 0
	default:
		fmt.Fprintf(stderr, "arenacast: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := cmd.ParseFlags(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "arenacast %s: %v\nRun 'arenacast %s --help' for its flags.\n", args[0], err, args[0])
		return 2
	}
	err := cmd.Run(ctx)
	if cerr := cmd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "arenacast %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
