package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/pflag"
)

// Set at build time by scripts/install:
//
//	-ldflags "-X main.version=v0.3.0 -X main.commit=<sha> -X main.date=<RFC 3339>"
//
// Unset, they come from the build info: the module version under
// `go install module@version`, the VCS revision and time under a build in
// a git checkout.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func versionFlagSet() *pflag.FlagSet {
	return flagSet("version", "", "Prints the version, commit, build date and go-fuse version.")
}

func runVersion(args []string) error {
	if err := parse(versionFlagSet(), args, 0); err != nil {
		return err
	}
	v, c, d, fuseVer := version, commit, date, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		modified := false
		vcsRev, vcsTime := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if c == "" && vcsRev != "" {
			c = vcsRev
			if modified {
				c += " (modified)"
			}
		}
		if d == "" && vcsTime != "" {
			d = vcsTime + " (commit time)"
		}
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/hanwen/go-fuse/v2" {
				fuseVer = dep.Version
				if dep.Replace != nil {
					fuseVer += " => " + dep.Replace.Path + " " + dep.Replace.Version
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	fmt.Printf("paracfs %s\ncommit %s\nbuilt %s\ngo-fuse %s\n%s %s/%s\n", v, c, d, fuseVer, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
