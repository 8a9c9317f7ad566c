package launcher

import (
	"strings"
	"testing"
)

// TestBlockNodeName: node names fit QEMU's 31 bytes and stay unique for
// disk names (up to 40 characters) that share a long prefix.
func TestBlockNodeName(t *testing.T) {
	if got := blockNodeName("rootdisk"); got != "vd-rootdisk" {
		t.Errorf("blockNodeName(rootdisk) = %q", got)
	}
	a, b := blockNodeName(strings.Repeat("a", 39)+"1"), blockNodeName(strings.Repeat("a", 39)+"2")
	if len(a) != maxNodeName || len(b) != maxNodeName || a == b {
		t.Errorf("long names: %q, %q", a, b)
	}
	if got := blockNodeName(strings.Repeat("b", 28)); got != "vd-"+strings.Repeat("b", 28) {
		t.Errorf("a name that fits is kept: %q", got)
	}
}
