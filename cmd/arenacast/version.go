package main

import (
	"runtime/debug"
	"strings"
)

// commit is the VCS commit the binary was built from, set by `make build`
// (-ldflags -X main.commit=...), since the toolchain's own stamping is off
// with -buildvcs=false and in some checkouts; empty: from the build info.
var commit string

// versionLine describes the build: the module version (a tag for
// `go install ...@v1.2.3`, "(devel)" for a local build), the commit
// (with "+dirty" when the tree had uncommitted changes) and its time when
// the toolchain stamped them, and the Go version.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "arenacast (no build information)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	rev, when, dirty := "", "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	if commit != "" {
		rev, when = commit, ""
	}
	parts := []string{"arenacast", version}
	if rev != "" {
		parts = append(parts, "commit "+rev)
		if when != "" {
			parts = append(parts, when)
		}
	} else {
		parts = append(parts, "commit unknown")
	}
	return strings.Join(append(parts, bi.GoVersion), " ")
}
