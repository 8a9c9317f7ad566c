// Package cloudinit builds the NoCloud seed a VMI's cloudInitNoCloud volume
// describes: an ISO 9660 volume labelled "cidata" holding user-data,
// meta-data and, when given, network-config — the layout cloud-init's
// NoCloud datasource (and VirtMesh's tiny test guest) looks for.
package cloudinit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kdomanski/iso9660"
)

// VolumeLabel is the label NoCloud finds its seed by.
const VolumeLabel = "cidata"

// File names inside the seed.
const (
	UserDataFile      = "user-data"
	MetaDataFile      = "meta-data"
	NetworkConfigFile = "network-config"
)

// Seed is the content of a NoCloud seed.
type Seed struct {
	// InstanceID changes whenever cloud-init should treat the guest as a
	// new instance (VirtMesh uses the VMI's uid: every VMI is one run).
	InstanceID string
	// Hostname becomes meta-data's local-hostname.
	Hostname string
	// UserData is written verbatim (a #cloud-config document or a script).
	UserData []byte
	// NetworkConfig is written only when non-nil.
	NetworkConfig []byte
}

// Source is a cloudInitNoCloud volume's data, plain or base64.
type Source struct {
	UserData, UserDataBase64       string
	NetworkData, NetworkDataBase64 string
}

// Decode returns the user data and network config of src; the base64
// fields win when both are set, like in KubeVirt. A nil network config means
// none was given.
func (src Source) Decode() (userData, networkConfig []byte, err error) {
	userData, err = pick(src.UserData, src.UserDataBase64)
	if err != nil {
		return nil, nil, fmt.Errorf("cloudInitNoCloud.userDataBase64: %w", err)
	}
	networkConfig, err = pick(src.NetworkData, src.NetworkDataBase64)
	if err != nil {
		return nil, nil, fmt.Errorf("cloudInitNoCloud.networkDataBase64: %w", err)
	}
	return userData, networkConfig, nil
}

// pick decodes b64 when it is set, else returns plain. White space in b64
// is ignored, as the CRD's pattern allows it anywhere: "base64" wraps its
// output and a folded YAML scalar (userDataBase64: >) turns the line breaks
// into spaces.
func pick(plain, b64 string) ([]byte, error) {
	if b64 != "" {
		return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	}
	if plain != "" {
		return []byte(plain), nil
	}
	return nil, nil
}

// MetaData renders meta-data as YAML. Values are quoted so a hostname or id
// can never be read as another YAML type.
func (s Seed) MetaData() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "instance-id: %s\n", strconv.Quote(s.InstanceID))
	fmt.Fprintf(&b, "local-hostname: %s\n", strconv.Quote(s.Hostname))
	return []byte(b.String())
}

// Files returns the seed's files by name.
func (s Seed) Files() map[string][]byte {
	f := map[string][]byte{
		UserDataFile: s.UserData,
		MetaDataFile: s.MetaData(),
	}
	if f[UserDataFile] == nil {
		f[UserDataFile] = []byte{}
	}
	if s.NetworkConfig != nil {
		f[NetworkConfigFile] = s.NetworkConfig
	}
	return f
}

// Validate reports seeds cloud-init would reject.
func (s Seed) Validate() error {
	if s.InstanceID == "" {
		return fmt.Errorf("cloud-init seed: instance-id is empty")
	}
	if s.Hostname == "" {
		return fmt.Errorf("cloud-init seed: hostname is empty")
	}
	return nil
}

// WriteISO writes s as an ISO 9660 image labelled VolumeLabel to w. File
// names are plain ISO 9660 identifiers ("user-data;1"), which Linux's isofs
// shows as "user-data" by default; no Rock Ridge/Joliet is needed.
func (s Seed) WriteISO(w io.Writer) error {
	if err := s.Validate(); err != nil {
		return err
	}
	iw, err := iso9660.NewWriter()
	if err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	defer func() { _ = iw.Cleanup() }() // staging files only
	files := s.Files()
	for _, name := range []string{MetaDataFile, UserDataFile, NetworkConfigFile} {
		data, ok := files[name]
		if !ok {
			continue
		}
		if err := iw.AddFile(bytes.NewReader(data), name); err != nil {
			return fmt.Errorf("cloud-init seed: add %s: %w", name, err)
		}
	}
	if err := iw.WriteTo(w, VolumeLabel); err != nil {
		return fmt.Errorf("cloud-init seed: write ISO: %w", err)
	}
	return nil
}

// WriteISOFile writes the seed to path atomically (temp file + rename), so
// QEMU never opens a half-written seed.
func (s Seed) WriteISOFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".seed-*")
	if err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := s.WriteISO(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	return nil
}
