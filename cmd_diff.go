package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/paracfs/paracfs/revision"
	"github.com/paracfs/paracfs/textdiff"
	"github.com/spf13/pflag"
)

// paracfs diff: a version against another or the current file, as a
// unified diff (textdiff, as rejected diff) or key by key. FILE@REV
// arguments are resolved as in cli_fileref.go.

func diffFlagSet(keys *bool, context *int, color *string) *pflag.FlagSet {
	flags := flagSet("diff", "[--keys] FILE@A [FILE@B | @B | FILE]",
		"Compares revision A of FILE with revision B (@B is short for FILE@B), or with the current\n"+
			"file, as a unified diff. With --keys, YAML and JSON files are compared key by key: the\n"+
			"keys added (+), removed (-) and changed (~), whatever their formatting; a mapping\n"+
			"changed on both sides shows the keys changed inside it, as a.b.c.")
	flags.BoolVar(keys, "keys", false, "YAML/JSON: list the changed keys with old and new values")
	flags.IntVarP(context, "unified", "U", 3, "lines of context around each change")
	flags.StringVar(color, "color", "auto", "colour the diff: auto (on a terminal, unless NO_COLOR is set), always, never")
	flags.SetAnnotation("color", annotValues, []string{"auto", "always", "never"})
	return flags
}

func runDiff(args []string) error {
	var keys bool
	var ctxLines int
	var colorMode string
	flags := diffFlagSet(&keys, &ctxLines, &colorMode)
	if err := parse(flags, args, 2); err != nil {
		return err
	}
	color, err := useColor(colorMode)
	if err != nil {
		return err
	}
	if flags.NArg() < 1 {
		return usageError{"name FILE@A (run 'paracfs diff --help')"}
	}
	if ctxLines < 0 {
		return usageError{fmt.Sprintf("--unified %d: must be 0 or more", ctxLines)}
	}
	a, err := resolveFile(flags.Arg(0))
	if err != nil {
		return err
	}
	b := a
	b.hasRev = false
	if flags.NArg() == 2 {
		arg := flags.Arg(1)
		if strings.HasPrefix(arg, "@") {
			arg = filepath.Join(a.root, filepath.FromSlash(a.rel)) + arg
		}
		if b, err = resolveFile(arg); err != nil {
			return err
		}
	}
	if !a.hasRev && !b.hasRev {
		return noRev(flags.Arg(0), "FILE@A")
	}
	if keys {
		if k := revision.KindOf(a.rel); k != revision.YAML && k != revision.JSON || revision.KindOf(b.rel) != k {
			return usageError{fmt.Sprintf("--keys compares YAML or JSON files (%s, %s)", a.rel, b.rel)}
		}
	}
	old, err := a.content()
	if err != nil {
		return err
	}
	cur, err := b.content()
	if err != nil {
		return err
	}
	if !keys {
		d := textdiff.Unified(a.String(), b.String(), old, cur, ctxLines)
		if d == "" {
			fmt.Fprintf(os.Stderr, "%s and %s have the same content\n", a, b)
			return nil
		}
		_, err = io.WriteString(os.Stdout, paintDiff(color, d))
		return err
	}
	return diffKeys(os.Stdout, a, b, old, cur)
}

// diffKeys prints the keys that differ between two YAML or JSON documents.
// A mapping changed on both sides is followed down to the keys that
// changed in it, named with dots (current_phase.progress).
func diffKeys(w io.Writer, a, b fileRef, old, cur []byte) error {
	kind := revision.KindOf(a.rel)
	lim := revision.DefaultLimits()
	od, err := revision.Parse(kind, old, lim)
	if err != nil {
		return fmt.Errorf("%s: %v", a, err)
	}
	nd, err := revision.Parse(kind, cur, lim)
	if err != nil {
		return fmt.Errorf("%s: %v", b, err)
	}
	changes := revision.Changes(od, nd)
	if changes == nil {
		return fmt.Errorf("%s, %s: --keys needs a mapping (an object) at the top of both", a, b)
	}
	if len(changes) == 0 {
		fmt.Fprintf(os.Stderr, "%s and %s have the same keys and values\n", a, b)
		return nil
	}
	printKeyChanges(w, "", changes)
	return nil
}

func printKeyChanges(w io.Writer, prefix string, changes map[string]revision.Change) {
	names := make([]string, 0, len(changes))
	for k := range changes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c, name := changes[k], prefix+k
		if om, nm, ok := bothObjects(c); ok {
			printKeyChanges(w, name+".", objectChanges(om, nm))
			continue
		}
		switch {
		case c.Old == nil:
			fmt.Fprintf(w, "+ %s: %s\n", name, keyValue(c.New))
		case c.New == nil:
			fmt.Fprintf(w, "- %s: %s\n", name, keyValue(c.Old))
		default:
			fmt.Fprintf(w, "~ %s: %s → %s\n", name, keyValue(c.Old), keyValue(c.New))
		}
	}
}

// bothObjects tells whether a change is of an object into an object, and
// gives their members.
func bothObjects(c revision.Change) (old, new map[string]json.RawMessage, ok bool) {
	or, ok1 := c.Old.(json.RawMessage)
	nr, ok2 := c.New.(json.RawMessage)
	if !ok1 || !ok2 || json.Unmarshal(or, &old) != nil || json.Unmarshal(nr, &new) != nil || old == nil || new == nil {
		return nil, nil, false
	}
	return old, new, true
}

// objectChanges compares the members of two objects in canonical JSON,
// where equal values have equal encodings.
func objectChanges(old, new map[string]json.RawMessage) map[string]revision.Change {
	out := make(map[string]revision.Change)
	for k, o := range old {
		if n, ok := new[k]; !ok {
			out[k] = revision.Change{Old: o}
		} else if !bytes.Equal(o, n) {
			out[k] = revision.Change{Old: o, New: n}
		}
	}
	for k, n := range new {
		if _, ok := old[k]; !ok {
			out[k] = revision.Change{New: n}
		}
	}
	return out
}

// keyValue is a value as --keys prints it: its canonical JSON as is (no
// \u0026 for &), or the summary of a value too long to show.
func keyValue(v any) string {
	if raw, ok := v.(json.RawMessage); ok {
		return string(raw)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
