package main

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// useColor decides whether to colour stdout: "always", "never", or "auto"
// (only on a terminal, and only when NO_COLOR is unset or empty).
func useColor(mode string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		return os.Getenv("NO_COLOR") == "" && isTerminal(os.Stdout), nil
	}
	return false, usageError{"--color " + mode + ": want auto, always or never"}
}

// SGR colours.
const (
	sgrReset  = "\x1b[0m"
	sgrDim    = "\x1b[2m"
	sgrBold   = "\x1b[1m"
	sgrRed    = "\x1b[31m"
	sgrGreen  = "\x1b[32m"
	sgrYellow = "\x1b[33m"
	sgrBlue   = "\x1b[34m"
	sgrCyan   = "\x1b[36m"
)

// paint wraps s in an SGR colour when on.
func paint(on bool, sgr, s string) string {
	if !on || s == "" || sgr == "" {
		return s
	}
	return sgr + s + sgrReset
}

// opColor is the colour of a log op: refusals red, changes green, removals
// and renames yellow, the daemon's own notes blue (changelog.KindOf).
func opColor(op string) string {
	switch changelog.KindOf(op) {
	case changelog.KindChange:
		return sgrGreen
	case changelog.KindRefusal:
		return sgrRed + sgrBold
	case changelog.KindAway:
		return sgrYellow
	case changelog.KindNote:
		return sgrBlue
	}
	return sgrCyan
}

// paintDiff colours a unified diff line by line, as diff --color does:
// headers bold, hunk lines cyan, removed lines red, added lines green.
func paintDiff(on bool, diff string) string {
	if !on {
		return diff
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(diff, "\n") {
		body := strings.TrimSuffix(l, "\n")
		var sgr string
		switch {
		case strings.HasPrefix(body, "--- "), strings.HasPrefix(body, "+++ "):
			sgr = sgrBold
		case strings.HasPrefix(body, "@@"):
			sgr = sgrCyan
		case strings.HasPrefix(body, "-"):
			sgr = sgrRed
		case strings.HasPrefix(body, "+"):
			sgr = sgrGreen
		}
		b.WriteString(paint(true, sgr, body))
		b.WriteString(l[len(body):])
	}
	return b.String()
}
