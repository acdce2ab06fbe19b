package backing

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The names derived from a managed name of up to 255 bytes (temp file,
// lock file, kept copy) fit in a file name, stay recognisable, and differ
// for different names.
func TestDerivedNamesFit(t *testing.T) {
	long := strings.Repeat("n", 250) + ".yaml"
	long2 := strings.Repeat("n", 249) + "m.yaml"
	accents := strings.Repeat("é", 125) + ".yaml" // 255 bytes, 2-byte runes
	for _, base := range []string{"x.yaml", long, long2, accents} {
		tmp := tempName(base)
		if len(tmp) > maxName || !IsTemp(tmp) || !utf8.ValidString(tmp) {
			t.Errorf("tempName(%d bytes) = %q (%d bytes): want a valid temp name of at most 255 bytes", len(base), tmp, len(tmp))
		}
		lock := lockName(base)
		if len(lock) > maxName || !strings.HasSuffix(lock, ".lock") || !utf8.ValidString(lock) {
			t.Errorf("lockName(%d bytes) = %q (%d bytes)", len(base), lock, len(lock))
		}
	}
	if got := lockName("x.yaml"); got != "x.yaml.lock" {
		t.Errorf("lockName(x.yaml) = %q, want paracle's x.yaml.lock", got)
	}
	if a, b := lockName(long), lockName(long2); a == b || a != lockName(long) {
		t.Errorf("lock names of two long names: %q and %q: want distinct and stable", a, b)
	}
	if got := lockRel("memory/context/" + long); got != "memory/context/"+lockName(long) {
		t.Errorf("lockRel = %q", got)
	}
}
