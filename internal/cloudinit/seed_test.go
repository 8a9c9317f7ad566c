package cloudinit

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kdomanski/iso9660"

	"virtmesh.io/virtmesh/internal/testing/golden"
)

// readISO returns the label and files (name -> content) of an ISO image.
func readISO(t *testing.T, img []byte) (string, map[string]string) {
	t.Helper()
	im, err := iso9660.OpenImage(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	label, err := im.Label()
	if err != nil {
		t.Fatal(err)
	}
	root, err := im.RootDir()
	if err != nil {
		t.Fatal(err)
	}
	kids, err := root.GetChildren()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, k := range kids {
		b, err := io.ReadAll(k.Reader())
		if err != nil {
			t.Fatal(err)
		}
		files[k.Name()] = string(b)
	}
	return label, files
}

// TestSeedGolden pins each seed's files (testdata/<case>/<file>) and checks
// the ISO carries exactly those files under the cidata label. The ISO bytes
// themselves embed the creation time, so they are compared by content.
func TestSeedGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  Source
	}{
		{"script", Source{UserData: "#!/bin/sh\necho hello > /tmp/hello\n"}},
		{"base64-with-network", Source{
			UserDataBase64:    "I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogd2ViCg==", // "#cloud-config\nhostname: web\n"
			NetworkData:       "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
			NetworkDataBase64: "",
		}},
		{"empty-user-data", Source{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ud, nc, err := tc.src.Decode()
			if err != nil {
				t.Fatal(err)
			}
			s := Seed{InstanceID: "6a1e7c3e-2f35-4c7b-9a40-0d4b1f6c2e11", Hostname: "web-0", UserData: ud, NetworkConfig: nc}
			golden.AssertDir(t, filepath.Join("testdata", tc.name), s.Files())

			var img bytes.Buffer
			if err := s.WriteISO(&img); err != nil {
				t.Fatal(err)
			}
			label, files := readISO(t, img.Bytes())
			if label != VolumeLabel {
				t.Errorf("label = %q, want %q", label, VolumeLabel)
			}
			// The reader, like Linux's isofs, hides the ";1" version suffix.
			want := map[string]string{}
			for k, v := range s.Files() {
				want[k] = string(v)
			}
			if diff := cmp.Diff(want, files); diff != "" {
				t.Errorf("ISO content (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeErrorsAndPrecedence(t *testing.T) {
	if _, _, err := (Source{UserDataBase64: "!!"}).Decode(); err == nil || !strings.Contains(err.Error(), "userDataBase64") {
		t.Errorf("bad base64: err = %v", err)
	}
	if ud, _, err := (Source{UserDataBase64: "YjY0\nYjY0 YjY0\tYjY0\n"}).Decode(); err != nil || string(ud) != "b64b64b64b64" {
		t.Errorf("base64 with white space: %q, %v", ud, err)
	}
	ud, nc, err := Source{UserData: "plain", UserDataBase64: "YjY0"}.Decode()
	if err != nil || string(ud) != "b64" || nc != nil {
		t.Errorf("Decode = %q, %q, %v; want base64 to win and no network config", ud, nc, err)
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []Seed{{Hostname: "h"}, {InstanceID: "i"}} {
		if err := s.WriteISO(io.Discard); err == nil {
			t.Errorf("%+v: want error", s)
		}
	}
}

func TestWriteISOFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.iso")
	s := Seed{InstanceID: "i", Hostname: "h", UserData: []byte("x")}
	if err := s.WriteISOFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, files := readISO(t, b)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"meta-data", "user-data"}, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
