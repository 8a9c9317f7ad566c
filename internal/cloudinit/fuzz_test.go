package cloudinit

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// base64Schema is the CRD's pattern for userDataBase64 and
// networkDataBase64 (api/virt/v1alpha1): base64 with white space anywhere.
var base64Schema = regexp.MustCompile(`^[A-Za-z0-9+/\s]*={0,2}\s*$`)

// decodable reports whether s is base64 once the white space the schema
// allows is left out.
func decodable(s string) bool {
	_, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	return err == nil
}

// FuzzSeed builds the NoCloud seed from fuzzed cloudInitNoCloud data and
// meta-data, writes the ISO and reads it back: base64 the CRD's pattern
// admits decodes whatever its white space, the seed is written unless the
// instance id or hostname is empty, the image is labelled cidata and holds
// exactly the seed's files, meta-data is YAML that reads back to the id and
// hostname, and the image is not much larger than its files.
func FuzzSeed(f *testing.F) {
	f.Fuzz(func(t *testing.T, userData, userDataB64, networkData, networkDataB64, instanceID, hostname string) {
		for _, b64 := range []string{userDataB64, networkDataB64} {
			if b64 != "" && base64Schema.MatchString(b64) && decodable(b64) {
				if _, err := pick("", b64); err != nil {
					t.Fatalf("%q is base64 the CRD admits, but: %v", b64, err)
				}
			}
		}
		src := Source{UserData: userData, UserDataBase64: userDataB64, NetworkData: networkData, NetworkDataBase64: networkDataB64}
		ud, nc, err := src.Decode()
		if err != nil {
			return
		}
		s := Seed{InstanceID: instanceID, Hostname: hostname, UserData: ud, NetworkConfig: nc}
		var img bytes.Buffer
		err = s.WriteISO(&img)
		if instanceID == "" || hostname == "" {
			if err == nil {
				t.Fatal("WriteISO wrote a seed without instance id or hostname")
			}
			return
		}
		if err != nil {
			t.Fatalf("WriteISO: %v", err)
		}
		size := 0
		want := map[string]string{}
		for name, b := range s.Files() {
			want[name] = string(b)
			size += len(b)
		}
		if img.Len() > size+64<<10 {
			t.Errorf("ISO is %d bytes for %d bytes of files", img.Len(), size)
		}
		label, files := readISO(t, img.Bytes())
		if label != VolumeLabel {
			t.Errorf("label %q", label)
		}
		if diff := cmp.Diff(want, files); diff != "" {
			t.Fatalf("ISO content (-want +got):\n%s", diff)
		}
		if utf8.ValidString(instanceID) && utf8.ValidString(hostname) {
			var md map[string]string
			if err := yaml.Unmarshal(s.MetaData(), &md); err != nil {
				t.Fatalf("meta-data is not YAML: %v\n%s", err, s.MetaData())
			}
			if md["instance-id"] != instanceID || md["local-hostname"] != hostname {
				t.Fatalf("meta-data reads back as %q, want id %q hostname %q", md, instanceID, hostname)
			}
		}
	})
}
