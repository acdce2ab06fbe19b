package main

import (
	"fmt"
	"strings"

	"github.com/paracfs/paracfs/backing"
	"github.com/spf13/pflag"
)

func checkFlagSet() *pflag.FlagSet {
	return flagSet("check", "[DIR]",
		"Checks DIR's paracfs.yaml (default DIR: the nearest .parac) and the schemas it names,\n"+
			"then every managed file as a commit of its current content would (YAML/JSON validity,\n"+
			"limits, the config file's rules). Mounts nothing and changes nothing. Exits 1 when the\n"+
			"config does not load or a file would be refused.")
}

func runCheck(args []string) error {
	flags := checkFlagSet()
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	dir, err := dirArg(flags.Args(), 0)
	if err != nil {
		return err
	}
	rep, err := backing.Check(dir, backing.Config{CheckStoreURL: checkStoreURL})
	if err != nil {
		return err
	}
	if rep.HasFile {
		fmt.Printf("%s: %s\n", backing.ConfigFile, describeConfig(rep.Config))
	} else {
		fmt.Printf("no %s in %s: the defaults apply (%s)\n", backing.ConfigFile, dir, describeConfig(rep.Config))
	}
	for _, w := range rep.Warnings {
		fmt.Println(w)
	}
	for _, f := range rep.Refused {
		fmt.Printf("%s: %s\n", f.Path, f.Reason)
	}
	fmt.Printf("%d managed file(s) checked, %d would be refused\n", rep.Files, len(rep.Refused))
	if len(rep.Refused) > 0 {
		return exitStatus(1)
	}
	return nil
}

// describeConfig sums up the settings in force, in the config file's words.
func describeConfig(c backing.Config) string {
	hist := "history: the defaults"
	if c.History != (backing.HistoryBounds{}) {
		hist = fmt.Sprintf("history max_versions %d, max_age %s", c.History.MaxVersions, c.History.MaxAge)
	}
	return fmt.Sprintf("tracked %s; lock_timeout %s; log %s; %s; %d rule(s)",
		strings.Join(c.Globs, " "), c.LockTimeout, c.LogPath, hist, len(c.Rules))
}
