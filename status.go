package main

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

type statusRow struct {
	Dir        string         `json:"dir"`
	Mountpoint string         `json:"mountpoint"`
	Pid        int            `json:"pid,omitempty"`
	Uptime     string         `json:"uptime,omitempty"`
	Stale      bool           `json:"stale,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
}

func statusFlagSet(asJSON *bool) *pflag.FlagSet {
	fs := flagSet("status", "[--json]", "Lists the active paracfs mounts: backing directory, mountpoint, daemon pid and uptime.")
	fs.BoolVar(asJSON, "json", false, "print JSON")
	return fs
}

func runStatus(args []string) error {
	asJSON := new(bool)
	fs := statusFlagSet(asJSON)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ms, err := paracfsMounts()
	if err != nil {
		return err
	}
	rows := []statusRow{}
	for _, m := range ms {
		row := statusRow{Dir: m.Dir, Mountpoint: m.Mountpoint}
		if isStale(m.Mountpoint) {
			row.Stale = true
		} else if st, err := readState(m.Mountpoint); err == nil {
			row.Pid, row.Config = st.Pid, st.Config
			if t, err := time.Parse(time.RFC3339, st.Started); err == nil {
				row.Uptime = time.Since(t).Round(time.Second).String()
			}
			if syscall.Kill(st.Pid, 0) != nil {
				row.Stale = true
			}
		}
		rows = append(rows, row)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"mounts": rows})
	}
	if len(rows) == 0 {
		fmt.Println("no paracfs mounts")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIR\tMOUNTPOINT\tPID\tUPTIME")
	for _, r := range rows {
		pid, up := fmt.Sprint(r.Pid), r.Uptime
		if r.Stale {
			pid, up = "-", "stale: daemon gone (run paracfs mount to clean up)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Dir, r.Mountpoint, pid, up)
	}
	return tw.Flush()
}
