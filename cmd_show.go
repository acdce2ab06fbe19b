package main

import (
	"os"

	"github.com/spf13/pflag"
)

// --- show

func showFlagSet() *pflag.FlagSet {
	return flagSet("show", "FILE@REV",
		"Prints revision REV of FILE, as it was committed, from its history.")
}

func runShow(args []string) error {
	flags := showFlagSet()
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return usageError{"name FILE@REV (run 'paracfs show --help')"}
	}
	f, err := resolveFile(flags.Arg(0))
	if err != nil {
		return err
	}
	if !f.hasRev {
		return noRev(flags.Arg(0), "FILE@REV")
	}
	b, err := f.content()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}
