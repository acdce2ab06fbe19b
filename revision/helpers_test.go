package revision

import (
	"errors"
	"strings"
	"testing"
)

// mustParse parses content that must be valid.
func mustParse(t *testing.T, kind Kind, data string) *Doc {
	t.Helper()
	d, err := Parse(kind, []byte(data), DefaultLimits())
	if err != nil {
		t.Fatalf("Parse(%v, %q): %v", kind, data, err)
	}
	return d
}

// wantInvalid asserts that err is an *InvalidError whose reason contains want.
func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("got error %v (%T), want *InvalidError containing %q", err, err, want)
	}
	if !strings.Contains(inv.Reason, want) {
		t.Fatalf("got reason %q, want it to contain %q", inv.Reason, want)
	}
}
