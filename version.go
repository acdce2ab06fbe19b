package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(args []string) error {
	fs := flagSet("version", "", "Prints the version, commit, build date and go-fuse version.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	v, commit, date, fuseVer := version, "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				date = s.Value
			}
		}
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/hanwen/go-fuse/v2" {
				fuseVer = dep.Version
			}
		}
	}
	fmt.Printf("paracfs %s\ncommit %s\nbuilt %s\ngo-fuse %s\n%s %s/%s\n", v, commit, date, fuseVer, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
