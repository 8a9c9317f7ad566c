package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtmesh.io/virtmesh/internal/podcontract"
)

func TestKVMBackend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		modules []string
		errPart string
	}{
		{name: "intel", modules: []string{"kvm", "kvm_intel"}},
		{name: "amd", modules: []string{"kvm", "kvm_amd"}},
		{name: "pvm", modules: []string{"kvm", "kvm_pvm"}, errPart: "kvm_pvm"},
		{name: "no kvm modules listed", modules: []string{"ext4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, m := range tc.modules {
				if err := os.Mkdir(filepath.Join(dir, m), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			err := kvmBackend(dir)
			if tc.errPart == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)) {
				t.Fatalf("err = %v, want %q", err, tc.errPart)
			}
		})
	}
}

func TestChooseAccel(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "kvm")
	if a, why, err := ChooseAccel(podcontract.AccelAuto, missing); err != nil || a != podcontract.AccelTCG || !strings.Contains(why, "KVM not usable") {
		t.Errorf("auto without KVM = %q, %q, %v", a, why, err)
	}
	if a, _, err := ChooseAccel(podcontract.AccelTCG, DefaultKVMDevice); err != nil || a != podcontract.AccelTCG {
		t.Errorf("tcg = %q, %v", a, err)
	}
	if _, _, err := ChooseAccel(podcontract.AccelKVM, missing); err == nil {
		t.Error("kvm without KVM: want error")
	}
}
