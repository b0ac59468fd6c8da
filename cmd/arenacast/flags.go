package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// envFlags registers flags whose defaults come from ARENACAST_* environment
// variables, and names the variable in each flag's help.
type envFlags struct {
	fs  *flag.FlagSet
	err error // first bad environment value
}

func envName(flagName string) string {
	return "ARENACAST_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (e *envFlags) env(name string) (string, bool) {
	return os.LookupEnv(envName(name))
}

func (e *envFlags) usage(name, u string) string {
	return u + " (env " + envName(name) + ")"
}

func (e *envFlags) String(name, def, u string) *string {
	if v, ok := e.env(name); ok {
		def = v
	}
	return e.fs.String(name, def, e.usage(name, u))
}

func (e *envFlags) Bool(name string, def bool, u string) *bool {
	if v, ok := e.env(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("%s: %w", envName(name), err)
		}
		def = b
	}
	return e.fs.Bool(name, def, e.usage(name, u))
}

func (e *envFlags) Int(name string, def int, u string) *int {
	if v, ok := e.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("%s: %w", envName(name), err)
		}
		def = n
	}
	return e.fs.Int(name, def, e.usage(name, u))
}

func (e *envFlags) Float(name string, def float64, u string) *float64 {
	if v, ok := e.env(name); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("%s: %w", envName(name), err)
		}
		def = n
	}
	return e.fs.Float64(name, def, e.usage(name, u))
}

func (e *envFlags) Duration(name string, def time.Duration, u string) *time.Duration {
	if v, ok := e.env(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("%s: %w", envName(name), err)
		}
		def = d
	}
	return e.fs.Duration(name, def, e.usage(name, u))
}

// list splits a comma-separated flag value, dropping empty items.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// multi is a repeatable string flag that also accepts comma lists.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, list(v)...); return nil }

// parseFlags parses args into fs without printing the flag list on an
// error (the caller prints the one-line error and a pointer to --help, so
// the error does not scroll away); -h and --help print the list on stdout
// and return flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "usage: arenacast %s [flags]\n\nflags:\n", fs.Name())
		fs.PrintDefaults()
	}
	return err
}
