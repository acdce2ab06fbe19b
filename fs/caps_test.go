package fs

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestHasCap(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   bool
	}{
		{"Name:\tbash\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n", true},
		{"Name:\tbash\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000000000\n", false},
		{"CapEff:\t0000000008000000\n", true},  // CAP_MKNOD alone (bit 27)
		{"CapEff:\t00000000f7ffffff\n", false}, // everything but CAP_MKNOD
		{"CapEff:\tzz\n", false},
		{"Name:\tx\n", false},
	} {
		if got := hasCap(tc.status, unix.CAP_MKNOD); got != tc.want {
			t.Errorf("hasCap(%q, CAP_MKNOD) = %v, want %v", tc.status, got, tc.want)
		}
	}
}
