package revision

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	withRev := func(r int64) *Doc { return &Doc{Kind: YAML, Rev: r, HasRev: true} }
	noRev := &Doc{Kind: YAML}
	tests := []struct {
		name          string
		current, base int64
		doc           *Doc
		stamp         bool
		err           string // "", "conflict" or "invalid"
		errText       string
		uncarried     bool // the current content does not carry its revision
	}{
		{"kept the field: stamp", 11, -1, withRev(11), true, "", "", false},
		{"bumped it itself", 11, -1, withRev(12), false, "", "", false},
		{"stale content", 11, -1, withRev(9), false, "conflict",
			"revision conflict: write is based on revision 9, current revision is 11 (the content carries revision 9)", false},
		{"ahead", 11, -1, withRev(20), false, "invalid", "invalid content: revision 20 is ahead of current revision 11", false},
		{"no field, no base", 11, -1, noRev, false, "", "", false},
		{"nil doc", 11, -1, nil, false, "", "", false},
		{"base current", 11, 11, noRev, false, "", "", false},
		{"base old", 11, 10, noRev, false, "conflict",
			"revision conflict: write is based on revision 10, current revision is 11 (the writer last saw revision 10)", false},
		{"base newer than current", 11, 12, noRev, false, "conflict", "", false},
		{"base current, field kept", 11, 11, withRev(11), true, "", "", false},
		{"base current, field bumped", 11, 11, withRev(12), false, "", "", false},
		{"field current but base old", 11, 10, withRev(11), false, "conflict", "", false},
		{"field bumped but base old", 11, 10, withRev(12), false, "conflict", "", false},
		{"first commit", 0, -1, withRev(0), true, "", "", false},
		{"first commit without field", 0, -1, noRev, false, "", "", false},
		{"ahead wins over base", 11, 10, withRev(20), false, "invalid", "", false},
		// A writer that read the current version is never stale, whatever
		// its field says (paracle after another writer dropped the field
		// writes revision 1): its field is stamped.
		{"read current, field dropped then written as 1", 5, 5, withRev(1), true, "", "", true},
		{"read current, field 0", 5, 5, withRev(0), true, "", "", true},
		{"read current, field ahead", 5, 5, withRev(7), false, "invalid", "", true},
		{"read old, field older", 5, 4, withRev(1), false, "conflict",
			"revision conflict: write is based on revision 1, current revision is 5 (the content carries revision 1)", true},
		{"read current that carries its revision, field older", 5, 5, withRev(4), false, "conflict", "", false},
		{"field older, base unknown, current does not carry it", 5, -1, withRev(4), false, "conflict", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, stamp, err := Check(tt.current, tt.base, tt.doc, !tt.uncarried)
			if next != tt.current+1 {
				t.Errorf("next = %d, want %d", next, tt.current+1)
			}
			if stamp != tt.stamp {
				t.Errorf("stamp = %v, want %v", stamp, tt.stamp)
			}
			var conflict *ConflictError
			var invalid *InvalidError
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tt.err == "conflict" && !errors.As(err, &conflict):
				t.Fatalf("err = %v, want *ConflictError", err)
			case tt.err == "invalid" && !errors.As(err, &invalid):
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if conflict != nil && conflict.Current != tt.current {
				t.Errorf("Current = %d, want %d", conflict.Current, tt.current)
			}
			if tt.errText != "" && err.Error() != tt.errText {
				t.Errorf("message %q, want %q", err.Error(), tt.errText)
			}
		})
	}
}

func TestCheckThenStamp(t *testing.T) {
	d := mustParse(t, YAML, "revision: 11 # kept by the writer\nx: 1\n")
	next, stamp, err := Check(11, -1, d, true)
	if err != nil || !stamp {
		t.Fatalf("Check = %d, %v, %v", next, stamp, err)
	}
	if got, want := string(d.Stamped(next)), "revision: 12 # kept by the writer\nx: 1\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&InvalidError{Reason: "nesting deeper than 200"}, "invalid content: nesting deeper than 200"},
		{&TooLargeError{Size: 20, Max: 10}, "content too large: 20 bytes, the limit is 10"},
		{&ConflictError{Current: 3, Base: 2, Reason: "r"}, "revision conflict: write is based on revision 2, current revision is 3 (r)"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
