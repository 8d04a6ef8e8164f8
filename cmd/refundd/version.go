package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version is stamped at build time (-ldflags "-X main.version=v1.2.3");
// otherwise it comes from the build's module and VCS information.
var version = ""

// commit is stamped at build time (-X main.commit=...) where the build
// carries no VCS information.
var commit = ""

// versionString says what this binary is: its version, the commit it was
// built from, the Go toolchain and the OPA engine it embeds.
func versionString() string {
	v, rev, opa, goVersion := version, commit, "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		dirty := ""
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+modified"
				}
			}
		}
		if rev != "" {
			rev += dirty
		}
		for _, d := range info.Deps {
			if d.Path == "github.com/open-policy-agent/opa" {
				opa = d.Version
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("refundd %s (commit %s, %s, OPA %s)", v, rev, goVersion, opa)
}

func versionCmd(stdout io.Writer) int {
	fmt.Fprintln(stdout, versionString())
	return 0
}
