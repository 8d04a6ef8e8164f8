package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version is stamped at build time (-ldflags "-X main.version=v1.2.3");
// otherwise it comes from the build's module and VCS information.
var version = ""

// versionString says what this binary is: its version, the commit it was
// built from, the Go toolchain and the OPA engine it embeds.
func versionString() string {
	v, commit, opa, goVersion := version, "unknown", "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		dirty := ""
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+modified"
				}
			}
		}
		commit += dirty
		for _, d := range info.Deps {
			if d.Path == "github.com/open-policy-agent/opa" {
				opa = d.Version
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	return fmt.Sprintf("refundd %s (commit %s, %s, OPA %s)", v, commit, goVersion, opa)
}

func versionCmd(stdout io.Writer) int {
	fmt.Fprintln(stdout, versionString())
	return 0
}
