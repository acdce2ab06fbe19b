package tests

// An oracle for the revision contract, written from docs/revisions.md and
// independent of paracfs's own revision package, so that a bug in its
// validation, its conflict rules or its stamping cannot hide behind a test
// that predicts with the same code: python3 parses the content (PyYAML
// and json, strict about duplicate keys, NUL and UTF-8), a regexp finds
// the revision scalar to stamp, and revVerdictOf applies the docs' rules.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

const revOracleScript = `import base64, json, sys, yaml
class Strict(yaml.SafeLoader):
    pass
def mapping(loader, node, deep=False):
    seen = []
    for k, _ in node.value:
        key = loader.construct_object(k, deep=True)
        if key in seen:
            raise ValueError("duplicate key %r" % (key,))
        seen.append(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)
Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
def pairs(ps):
    d = {}
    for k, v in ps:
        if k in d:
            raise ValueError("duplicate key %r" % (k,))
        d[k] = v
    return d
def const(c):
    raise ValueError("not JSON: " + c)
def field(doc):
    if isinstance(doc, dict) and "revision" in doc:
        v = doc["revision"]
        if type(v) is int and 0 <= v < 2**63 - 1:
            return {"has": True, "rev": v}
        raise ValueError("revision %r is not a non-negative integer" % (v,))
    return {"has": False}
def parse(kind, b):
    if kind == "md":
        return {"has": False}
    if b"\x00" in b:
        raise ValueError("NUL")
    text = b.decode("utf-8")
    if kind == "yaml":
        docs = list(yaml.load_all(text, Loader=Strict))
        if len(docs) > 1:
            raise ValueError("%d documents" % len(docs))
        return field(docs[0] if docs else None)
    if kind == "json":
        return field(json.loads(text, object_pairs_hook=pairs, parse_constant=const))
    if kind == "jsonl":
        if text and not text.endswith("\n"):
            raise ValueError("last line without a newline")
        for line in text.split("\n"):
            if line.strip(" \t\r"):
                json.loads(line, object_pairs_hook=pairs, parse_constant=const)
        return {"has": False}
    raise ValueError("unknown kind " + kind)
for line in sys.stdin:
    req = json.loads(line)
    try:
        res = parse(req["kind"], base64.b64decode(req["data"]))
        res["valid"] = True
    except Exception as e:
        res = {"valid": False, "why": repr(e)[:200]}
    print(json.dumps(res), flush=True)
`

// revOracle is revOracleScript running.
type revOracle struct {
	in  io.WriteCloser
	out *bufio.Reader
}

// revParsed is what the oracle makes of some content.
type revParsed struct {
	Valid bool   `json:"valid"`
	Has   bool   `json:"has"` // a top-level revision field
	Rev   int64  `json:"rev"`
	Why   string `json:"why"` // why it is invalid
}

func startRevOracle(t *testing.T) *revOracle {
	t.Helper()
	toolNeedPython(t, "yaml")
	cmd := exec.Command(toolPython, "-c", revOracleScript)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	return &revOracle{in: in, out: bufio.NewReader(out)}
}

// revKind is the kind docs/revisions.md's validation table gives a name.
func revKind(rel string) string {
	switch path.Ext(rel) {
	case ".yaml", ".yml":
		return "yaml"
	case ".json":
		return "json"
	case ".jsonl":
		return "jsonl"
	}
	return "md"
}

func (o *revOracle) parse(t *testing.T, rel string, data []byte) revParsed {
	t.Helper()
	req, _ := json.Marshal(map[string]string{"kind": revKind(rel), "data": base64.StdEncoding.EncodeToString(data)})
	if _, err := o.in.Write(append(req, '\n')); err != nil {
		t.Fatalf("revision oracle: %v", err)
	}
	line, err := o.out.ReadBytes('\n')
	var p revParsed
	if err != nil || json.Unmarshal(line, &p) != nil {
		t.Fatalf("revision oracle answered %q: %v", line, err)
	}
	return p
}

// revFacts is what the contract's verdict on a commit depends on.
type revFacts struct {
	content  revParsed // the written bytes
	exists   bool      // a file is there now
	buried   bool      // no file, but the name keeps a revision (deleted, renamed away)
	cur      int64     // the name's current revision
	base     int64     // the revision the write derives from (-1: unknown)
	curField revParsed // the current version's content (for a buried name, its last version)
	restored bool      // the current version is a restore
	older    bool      // the bytes are those of a version older than cur
	same     bool      // the bytes are those of the current version
}

// revVerdict is the contract's verdict: an errno, or the revision after
// the commit, whether the revision field is stamped with it, and whether
// anything changed at all.
type revVerdict struct {
	errno   syscall.Errno
	rev     int64
	stamp   bool
	changed bool
	restore bool
}

// revVerdictOf applies docs/revisions.md's rules, in the docs' words.
func revVerdictOf(f revFacts) revVerdict {
	refused := func(e syscall.Errno) revVerdict { return revVerdict{errno: e, rev: f.cur} }
	// "A revision that is present but not a non-negative integer makes
	// the file invalid", and so does content that does not parse.
	if !f.content.Valid {
		return refused(syscall.EBADMSG)
	}
	// "A name with no committed version ... takes, at its first commit,
	// the revision its content carries: the number in its revision:
	// field, or 0 without one. Its bytes land as written, never stamped."
	if !f.exists && !f.buried {
		r := int64(0)
		if f.content.Has {
			r = f.content.Rev
		}
		return revVerdict{rev: r, changed: true}
	}
	accept := func(stamp, restore bool) revVerdict {
		if f.exists && f.same {
			// "Writing the very bytes that are already committed, from the
			// current revision, is no change."
			return revVerdict{rev: f.cur}
		}
		return revVerdict{rev: f.cur + 1, stamp: stamp, changed: true, restore: restore}
	}
	baseKnown := f.base >= 0
	if f.content.Has {
		r := f.content.Rev
		// "r > C+1: invalid (EBADMSG): no such revision was ever read."
		if r > f.cur+1 {
			return refused(syscall.EBADMSG)
		}
		// "After a restore, content that keeps the restored version's
		// number ... counts as keeping the field as read."
		if r < f.cur && f.restored && f.curField.Has && f.curField.Rev == r {
			r = f.cur
		}
		if r < f.cur {
			// "An older field whose bytes are a version paracfs kept is a
			// restore ... committed as the next revision, as written", when
			// the writer's "base is unknown ... or current".
			if f.older && (!baseKnown || f.base == f.cur) {
				return accept(false, true)
			}
			// "An older field is no conflict when the writer read the
			// current version through the mount and that version does not
			// carry its revision in its field ... accepted and stamped C+1."
			if f.base == f.cur && !(f.curField.Has && f.curField.Rev == f.cur) {
				return accept(true, false)
			}
			// "r < C: conflict (EBUSY): written from a stale copy."
			return refused(syscall.EBUSY)
		}
		// "A write whose base is known and is not the current revision is
		// a conflict." Both checks apply when both are known.
		if baseKnown && f.base != f.cur {
			return refused(syscall.EBUSY)
		}
		// "r = C: accepted, stamped; r = C+1: accepted (the writer bumped it)."
		return accept(r == f.cur, false)
	}
	if baseKnown && f.base != f.cur {
		return refused(syscall.EBUSY)
	}
	// "Files without the field never get one added."
	return accept(false, false)
}

// revField finds a top-level revision scalar the way it is written in the
// test's content: a YAML block key at the start of a line, or a key
// (quoted or not) first in a flow mapping or JSON object, or after a comma.
var revField = regexp.MustCompile(`(?m)((?:^|[{,])[ \t]*"?revision"?[ \t]*:\s*)([0-9]+)`)

// revStamp sets the revision field's digits to rev, touching no other
// byte ("editing only that scalar's bytes"). It fails the test when it
// cannot find the field the oracle saw.
func revStamp(t *testing.T, rel string, data []byte, was, rev int64) []byte {
	t.Helper()
	var m []int
	for _, c := range revField.FindAllSubmatchIndex(data, -1) {
		line := data[bytes.LastIndexByte(data[:c[0]], '\n')+1 : c[0]]
		comment := bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("#")) || bytes.Contains(line, []byte(" #"))
		if !comment { // not inside a YAML comment
			m = c
			break
		}
	}
	if m == nil || string(data[m[4]:m[5]]) != strconv.FormatInt(was, 10) {
		t.Fatalf("the test's model cannot find the revision field %d to stamp in %q", was, data)
	}
	out := append([]byte{}, data[:m[4]]...)
	out = append(out, strconv.FormatInt(rev, 10)...)
	return append(out, data[m[5]:]...)
}

// TestRevModel checks the model itself on the cases docs/revisions.md
// spells out, so that the differential test's oracle is known to say what
// the docs say.
func TestRevModel(t *testing.T) {
	t.Parallel()
	o := startRevOracle(t)
	field := func(r int64) revParsed { return revParsed{Valid: true, Has: true, Rev: r} }
	none := revParsed{Valid: true}
	for _, c := range []struct {
		name string
		f    revFacts
		want revVerdict
	}{
		{"r = C", revFacts{content: field(11), exists: true, cur: 11, base: -1, curField: field(11)}, revVerdict{rev: 12, stamp: true, changed: true}},
		{"r = C+1", revFacts{content: field(12), exists: true, cur: 11, base: -1, curField: field(11)}, revVerdict{rev: 12, changed: true}},
		{"r < C", revFacts{content: field(10), exists: true, cur: 11, base: -1, curField: field(11)}, revVerdict{errno: syscall.EBUSY, rev: 11}},
		{"r > C+1", revFacts{content: field(13), exists: true, cur: 11, base: -1, curField: field(11)}, revVerdict{errno: syscall.EBADMSG, rev: 11}},
		{"stale base, no field", revFacts{content: none, exists: true, cur: 11, base: 10}, revVerdict{errno: syscall.EBUSY, rev: 11}},
		{"current base, no field", revFacts{content: none, exists: true, cur: 11, base: 11}, revVerdict{rev: 12, changed: true}},
		{"r = C, stale base", revFacts{content: field(11), exists: true, cur: 11, base: 10, curField: field(11)}, revVerdict{errno: syscall.EBUSY, rev: 11}},
		{"blind overwrite", revFacts{content: none, exists: true, cur: 11, base: -1}, revVerdict{rev: 12, changed: true}},
		{"same bytes", revFacts{content: field(11), exists: true, cur: 11, base: -1, curField: field(11), same: true}, revVerdict{rev: 11}},
		{"new name with a field", revFacts{content: field(7), base: -1}, revVerdict{rev: 7, changed: true}},
		{"new name without one", revFacts{content: none, base: -1}, revVerdict{rev: 0, changed: true}},
		{"buried name continues", revFacts{content: none, buried: true, cur: 4, base: -1}, revVerdict{rev: 5, changed: true}},
		{"older field, read current without the field", revFacts{content: field(0), exists: true, cur: 3, base: 3, curField: none}, revVerdict{rev: 4, stamp: true, changed: true}},
		{"older field, read current with it", revFacts{content: field(2), exists: true, cur: 3, base: 3, curField: field(3)}, revVerdict{errno: syscall.EBUSY, rev: 3}},
		{"restore of an older version", revFacts{content: field(11), exists: true, cur: 12, base: -1, curField: field(12), older: true}, revVerdict{rev: 13, changed: true, restore: true}},
		{"older bytes from a stale read", revFacts{content: field(11), exists: true, cur: 12, base: 11, curField: field(12), older: true}, revVerdict{errno: syscall.EBUSY, rev: 12}},
		{"edit after a restore keeps its number", revFacts{content: field(11), exists: true, cur: 13, base: -1, curField: field(11), restored: true}, revVerdict{rev: 14, stamp: true, changed: true}},
		{"invalid", revFacts{content: revParsed{}, exists: true, cur: 3, base: -1}, revVerdict{errno: syscall.EBADMSG, rev: 3}},
	} {
		if got := revVerdictOf(c.f); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		rel, data string
		want      revParsed
	}{
		{"x.yaml", "# c\nrevision: 3\nk: v\n", revParsed{Valid: true, Has: true, Rev: 3}},
		{"x.yaml", "", revParsed{Valid: true}},
		{"x.yaml", "a: 1\nb: 2\na: 3\n", revParsed{}},
		{"x.yaml", "a: 1\n---\nb: 2\n", revParsed{}},
		{"x.yaml", "revision: \"5\"\n", revParsed{}},
		{"x.yaml", "revision: -1\n", revParsed{}},
		{"x.yaml", "revision: null\n", revParsed{}},
		{"x.yaml", "x\x00y\n", revParsed{}},
		{"x.yaml", "a: \"caf\xe9\"\n", revParsed{}},
		{"x.json", `{"revision": 4, "k": 1}`, revParsed{Valid: true, Has: true, Rev: 4}},
		{"x.json", `{"revision": 4.0}`, revParsed{}},
		{"x.json", `{"a": 1, "a": 2}`, revParsed{}},
		{"x.json", `{"a": `, revParsed{}},
		{"x.jsonl", "{\"a\": 1}\n[2]\n\n", revParsed{Valid: true}},
		{"x.jsonl", "{\"a\": 1}", revParsed{}},
		{"x.md", "x\x00y", revParsed{Valid: true}},
	} {
		got := o.parse(t, c.rel, []byte(c.data))
		got.Why = ""
		if got != c.want {
			t.Errorf("%s %q: %+v, want %+v", c.rel, c.data, got, c.want)
		}
	}
	if got := string(revStamp(t, "x.yaml", []byte("# c\nrevision: 3  # kept\r\nk: v\n"), 3, 4)); got != "# c\nrevision: 4  # kept\r\nk: v\n" {
		t.Errorf("stamping YAML: %q", got)
	}
	if got := string(revStamp(t, "x.json", []byte("{\n  \"revision\":3, \"k\": 1}"), 3, 10)); got != "{\n  \"revision\":10, \"k\": 1}" {
		t.Errorf("stamping JSON: %q", got)
	}
}
