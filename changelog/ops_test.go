package changelog

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Every Op constant is in Ops, once, with a kind: a new op added to the
// constants alone would be neither offered by paracfs log --op nor
// coloured.
func TestOpsListsEveryConstant(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "ops.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Op") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s is not a string literal", name.Name)
				continue
			}
			s, _ := strconv.Unquote(lit.Value)
			consts = append(consts, s)
		}
		return true
	})
	if len(consts) < 30 {
		t.Fatalf("found %d Op constants in ops.go, want them all: %q", len(consts), consts)
	}
	list := Ops()
	for _, op := range consts {
		if n := strings.Count(" "+strings.Join(list, " ")+" ", " "+op+" "); n != 1 {
			t.Errorf("op %q is in Ops %d times, want once", op, n)
		}
	}
	if len(list) != len(consts) {
		t.Errorf("Ops has %d names, the constants %d", len(list), len(consts))
	}
}

func TestKindOf(t *testing.T) {
	for op, want := range map[string]Kind{
		OpCommit: KindChange, OpRestore: KindChange, OpConflict: KindRefusal, OpLockBusy: KindRefusal,
		OpAppendOnly: KindRefusal, OpConfigError: KindRefusal, OpDelete: KindAway, OpRotate: KindAway,
		OpRecover: KindNote, OpExternal: KindNote, OpConfig: KindOther, "": KindOther, "progress": KindOther,
	} {
		if got := KindOf(op); got != want {
			t.Errorf("KindOf(%q) = %d, want %d", op, got, want)
		}
	}
	a := Ops()
	a[0] = "changed"
	if slices.Contains(Ops(), "changed") {
		t.Error("Ops returns its own list: a caller changed it")
	}
}
