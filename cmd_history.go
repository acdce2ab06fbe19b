package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
	"github.com/spf13/pflag"
)

// --- history

func historyFlagSet(asJSON *bool, color *string) *pflag.FlagSet {
	flags := flagSet("history", "[--json] FILE",
		"Lists the versions of a managed file in its history, oldest first: revision, time, what made it\n"+
			"(commit, create, restore, external, before), the writer's pid and command, and size.\n"+
			"Read one with 'paracfs show FILE@REV', compare with 'paracfs diff FILE@REV', put one\n"+
			"back with 'paracfs restore FILE@REV'. The versions are also plain read-only files in\n"+
			"MOUNTPOINT/.paracfs/history/<path>/<rev>.<ext> (beside DIR when unmounted:\n"+
			".parac.paracfs/history/ for .parac).")
	flags.BoolVar(asJSON, "json", false, "print one JSON object per version")
	flags.StringVar(color, "color", "auto", "colour the table: auto (on a terminal, unless NO_COLOR is set), always, never")
	flags.SetAnnotation("color", annotValues, []string{"auto", "always", "never"})
	return flags
}

func runHistory(args []string) error {
	var asJSON bool
	var colorMode string
	flags := historyFlagSet(&asJSON, &colorMode)
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	color, err := useColor(colorMode)
	if err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return usageError{"name a FILE (run 'paracfs history --help')"}
	}
	f, err := resolveFile(flags.Arg(0))
	if err != nil {
		return err
	}
	if f.hasRev {
		return usageError{fmt.Sprintf("%s: history lists every revision; to read one, run paracfs show %s", flags.Arg(0), flags.Arg(0))}
	}
	vs, err := f.versions()
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, v := range vs {
			if err := enc.Encode(v); err != nil {
				return err
			}
		}
		return nil
	}
	current, curErr := readMeta(f.root, f.rel)
	curSum := ""
	if curErr == nil {
		curSum = backing.SHA256(current)
	}
	var t table
	t.add([]string{"REV", "TIME", "OP", "PID", "COMMAND", "SIZE", ""}, []string{sgrBold, sgrBold, sgrBold, sgrBold, sgrBold, sgrBold, ""})
	for i, v := range vs {
		mark := ""
		if i == len(vs)-1 && v.SHA256 == curSum {
			mark = "(current)"
		}
		pid := "-"
		if v.Pid > 0 {
			pid = strconv.Itoa(v.Pid)
		}
		t.add([]string{strconv.FormatInt(v.Rev, 10), changelog.LocalTime(v.Time), v.Op, pid,
			changelog.Sanitize(v.Command), strconv.FormatInt(v.Size, 10), mark},
			[]string{sgrYellow, sgrDim, opColor(v.Op), "", "", "", sgrBold})
	}
	t.write(os.Stdout, color, nil)
	switch {
	case errors.Is(curErr, os.ErrNotExist):
		fmt.Printf("%s is deleted; restore a version with paracfs restore %s@REV\n", f.rel, f.rel)
	case curErr == nil && (len(vs) == 0 || vs[len(vs)-1].SHA256 != curSum):
		fmt.Printf("%s now differs from its newest version in the history (changed behind the mount's back?)\n", f.rel)
	}
	fmt.Printf("versions kept in %s/\n", shortPath(f.historyDir()))
	return nil
}
