package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
	pfs "github.com/paracfs/paracfs/fs"
	"github.com/paracfs/paracfs/textdiff"
	"github.com/spf13/pflag"
)

// A refused write's bytes are kept under .paracfs/rejected/, beside DIR (see
// backing.keep); `paracfs rejected` lists, shows, compares, re-submits and
// drops them. Each has a short ID: the first hex digits of the SHA-256 of
// its kept file's name, stable for as long as the file exists, and given
// as any unique prefix of 4 digits or more (or as the kept file's name).

const rejectedArgs = "[list|show|diff|apply|drop] [ID] [flags] [DIR]"

var rejectedSubs = []struct{ name, args, summary string }{
	{"list", "[--json] [DIR]", "list the refused writes kept in DIR, oldest first (the default)"},
	{"show", "[--raw|--json] ID [DIR]", "show one refused write: what, when, who, why, and its bytes"},
	{"diff", "[-U N] ID [DIR]", "compare the current file with the refused write, as a unified diff (- current, + refused)"},
	{"apply", "ID [DIR]", "submit the refused write again as a new write, with the usual checks"},
	{"drop", "ID [DIR]", "remove the refused write (its writer, the file's owner or root)"},
}

type rejectedOpts struct {
	asJSON, raw bool
	color       string
	context     int
}

func rejectedFlagSet(sub string, o *rejectedOpts) *pflag.FlagSet {
	args, summary := rejectedArgs, "Lists the writes paracfs refused (their bytes are kept in .paracfs/rejected/ beside DIR),\n"+
		"shows, compares, re-submits or drops one. DIR defaults to the nearest .parac.\n\nSubcommands:\n"
	for _, s := range rejectedSubs {
		if s.name == sub {
			args, summary = s.args, strings.ToUpper(s.summary[:1])+s.summary[1:]+"."
			break
		}
		summary += fmt.Sprintf("  %-6s %s\n", s.name, s.args)
	}
	name := "rejected"
	if sub != "" && sub != "*" {
		name += " " + sub
	}
	flags := flagSet(name, args, strings.TrimRight(summary, "\n"))
	all := sub == "*" // every subcommand's flags, for the completion scripts
	if all || sub == "" || sub == "list" || sub == "show" {
		flags.BoolVar(&o.asJSON, "json", false, "print JSON")
	}
	if all || sub == "show" {
		flags.BoolVar(&o.raw, "raw", false, "print only the refused bytes")
	}
	if all || sub == "diff" {
		flags.IntVarP(&o.context, "unified", "U", 3, "lines of context around each change")
	}
	if all || sub == "" || sub == "list" || sub == "diff" {
		flags.StringVar(&o.color, "color", "auto", "colour the output: auto (on a terminal, unless NO_COLOR is set), always, never")
		flags.SetAnnotation("color", annotValues, []string{"auto", "always", "never"})
	}
	return flags
}

// rejectedEntry is one kept refused write.
type rejectedEntry struct {
	ID      string    `json:"id"`
	Path    string    `json:"path"`
	Time    time.Time `json:"time"`
	Pid     int       `json:"pid"`
	Command string    `json:"command,omitempty"`
	Op      string    `json:"op"`
	Reason  string    `json:"reason,omitempty"`
	Errno   string    `json:"errno,omitempty"`
	Kept    string    `json:"kept"`
	Size    int64     `json:"size"`
}

func runRejected(args []string) error {
	sub := ""
	if len(args) > 0 {
		for _, s := range rejectedSubs {
			if args[0] == s.name {
				sub, args = s.name, args[1:]
				break
			}
		}
	}
	if sub == "" && len(args) > 0 && !strings.HasPrefix(args[0], "-") && !strings.Contains(args[0], "/") {
		if st, err := os.Stat(args[0]); err != nil || !st.IsDir() {
			// `paracfs rejected shwo 1a2b`: a mistyped subcommand, not a DIR.
			return usageError{fmt.Sprintf("%q: no such subcommand (list, show, diff, apply, drop) nor directory", args[0])}
		}
	}
	var o rejectedOpts
	flags := rejectedFlagSet(sub, &o)
	maxArgs := 2
	if sub == "" || sub == "list" {
		maxArgs = 1
	}
	if err := parse(flags, args, maxArgs); err != nil {
		return err
	}
	rest := flags.Args()
	if sub == "" || sub == "list" {
		dir, err := dirArg(rest, 0)
		if err != nil {
			return err
		}
		return listRejected(dir, o)
	}
	if len(rest) == 0 {
		return usageError{fmt.Sprintf("which refused write? (paracfs rejected %s ID; 'paracfs rejected' lists them)", sub)}
	}
	dir, err := dirArg(rest, 1)
	if err != nil {
		return err
	}
	e, err := findRejected(dir, rest[0])
	if err != nil {
		return err
	}
	switch sub {
	case "show":
		return showRejected(dir, e, o)
	case "diff":
		return diffRejected(dir, e, o)
	case "apply":
		return applyRejected(dir, e)
	case "drop":
		return dropRejected(dir, e)
	}
	return nil
}

func listRejected(dir string, o rejectedOpts) error {
	color, err := useColor(o.color)
	if err != nil {
		return err
	}
	es, err := listKept(dir)
	if err != nil {
		return err
	}
	if o.asJSON {
		if es == nil {
			es = []rejectedEntry{}
		}
		return printJSON(map[string]any{"dir": dir, "rejected": es})
	}
	if len(es) == 0 {
		fmt.Printf("no refused writes kept in %s\n", dir)
		return nil
	}
	var t table
	t.add([]string{"ID", "TIME", "PATH", "PID", "COMMAND", "REASON"}, []string{sgrBold, sgrBold, sgrBold, sgrBold, sgrBold, sgrBold})
	for _, e := range es {
		why := e.Op
		if e.Reason != "" {
			why += ": " + e.Reason
		}
		t.add([]string{e.ID, changelog.LocalTime(e.Time), changelog.Sanitize(e.Path), fmt.Sprint(e.Pid),
			changelog.Sanitize(orDash(e.Command)), changelog.Sanitize(why)},
			[]string{sgrYellow, sgrDim, "", "", "", opColor(e.Op)})
	}
	t.write(os.Stdout, color, nil)
	return nil
}

func showRejected(dir string, e rejectedEntry, o rejectedOpts) error {
	data, err := readMeta(dir, e.Kept)
	if err != nil {
		return err
	}
	if o.raw {
		_, err := os.Stdout.Write(data)
		return err
	}
	if o.asJSON {
		return printJSON(struct {
			rejectedEntry
			Content string `json:"content"`
		}{e, string(data)})
	}
	why := e.Op
	if e.Reason != "" {
		why += ": " + e.Reason
	}
	if e.Errno != "" {
		why += " (" + e.Errno + ")"
	}
	fmt.Printf("id       %s\npath     %s\ntime     %s\npid      %d\ncommand  %s\nrefused  %s\nkept     %s (%d bytes)\n\n",
		e.ID, changelog.Sanitize(e.Path), e.Time.Local().Format("2006-01-02 15:04:05.000000 -07:00"), e.Pid,
		changelog.Sanitize(orDash(e.Command)), changelog.Sanitize(why), changelog.Sanitize(e.Kept), len(data))
	_, err = os.Stdout.Write(data)
	if err == nil && len(data) > 0 && data[len(data)-1] != '\n' {
		fmt.Println()
	}
	return err
}

func diffRejected(dir string, e rejectedEntry, o rejectedOpts) error {
	color, err := useColor(o.color)
	if err != nil {
		return err
	}
	if o.context < 0 {
		return usageError{fmt.Sprintf("--unified %d: must be 0 or more", o.context)}
	}
	refused, err := readMeta(dir, e.Kept)
	if err != nil {
		return err
	}
	// A file removed since is compared with nothing.
	cur, err := readMeta(dir, e.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d := textdiff.Unified(e.Path+" (current)", e.Path+" (refused "+e.ID+")", cur, refused, o.context)
	if d == "" {
		fmt.Fprintf(os.Stderr, "%s: the refused write is the same as the current file\n", e.ID)
		return nil
	}
	_, err = io.WriteString(os.Stdout, paintDiff(color, d))
	return err
}

func applyRejected(dir string, e rejectedEntry) error {
	m, err := mountOf(dir)
	if err != nil {
		return fmt.Errorf("%w: apply goes through the daemon, for its checks", err)
	}
	res, err := controlCall(m.Mountpoint, pfs.RejectedApplyRequest{Kept: e.Kept})
	if err != nil {
		return fmt.Errorf("%s: %v", e.ID, err)
	}
	if res.Refused == "" {
		fmt.Printf("applied %s: %s is now at revision %d (the kept copy is removed)\n", e.ID, changelog.Sanitize(res.Path), res.Revision)
		return nil
	}
	msg := fmt.Sprintf("%s: refused again as %s: %s (%s); it stays kept as %s", e.ID, res.Refused, changelog.Sanitize(res.Reason), res.Errno, e.ID)
	if res.Refused == backing.OpConflict {
		msg += fmt.Sprintf(".\nIt was made from an older revision than the current file: see what changed with\n"+
			"  paracfs rejected diff %s\nthen write a merged version through the mount, and drop this one", e.ID)
	}
	fmt.Fprintln(os.Stderr, "paracfs rejected apply: "+msg)
	return exitStatus(1)
}

func dropRejected(dir string, e rejectedEntry) error {
	m, err := mountOf(dir)
	if errors.Is(err, errNotMounted) {
		// No daemon: DIR is reachable directly.
		if err := removeMeta(dir, e.Kept); err != nil {
			return err
		}
		logDrop(dir, e)
	} else if err != nil {
		return err
	} else if _, err := controlCall(m.Mountpoint, pfs.RejectedDropRequest{Kept: e.Kept}); err != nil {
		return fmt.Errorf("%s: %v", e.ID, err)
	}
	fmt.Printf("dropped %s: the %s refused write of %s (%s)\n", e.ID, e.Op, changelog.Sanitize(e.Path), changelog.LocalTime(e.Time))
	return nil
}

// logDrop logs a drop made with no daemon running.
func logDrop(dir string, e rejectedEntry) {
	appendEntry(dir, logPathOf(dir), &changelog.Entry{ChangeType: changelog.OpDrop, Op: changelog.OpDrop, Path: e.Path, Kept: e.Kept,
		Description: fmt.Sprintf("%s: dropped the refused write kept in %s", e.Path, e.Kept)})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
