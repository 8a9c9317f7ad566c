package launcher

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"virtmesh.io/virtmesh/internal/cloudinit"
	"virtmesh.io/virtmesh/internal/containerdisk"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// preparedDisks are the VMI's volumes made ready for QEMU.
type preparedDisks struct {
	byVolume map[string]PreparedDisk
	// files are the container disks' descriptors, in fd-set order: they
	// become QEMU's ExtraFiles (fd 3, 4, ...).
	files []*os.File
	// disks hold the helpers' connections: closing them (at exit) lets the
	// volume containers end.
	disks []*containerdisk.Disk
}

func (p *preparedDisks) close() {
	for _, d := range p.disks {
		d.Close()
	}
}

// prepareDisks waits for every container disk's helper, creates a qcow2
// overlay over each received image, writes the cloud-init seed, finds or
// creates each claim's disk.img and creates each run's blank emptyDisks.
func (r *Runner) prepareDisks(ctx context.Context, v *VMI) (*preparedDisks, error) {
	o := r.Opts
	if err := os.MkdirAll(o.DisksDir, 0o755); err != nil {
		return nil, fmt.Errorf("disks dir: %w", err)
	}
	p := &preparedDisks{byVolume: map[string]PreparedDisk{}}
	wctx, cancel := context.WithTimeout(ctx, o.DiskWaitTimeout)
	defer cancel()
	for _, vol := range v.Spec.Volumes {
		switch {
		case vol.ContainerDisk != nil:
			sock := podcontract.DiskSocketPath(o.HelperSocketDir, vol.Name)
			r.logf("waiting for container disk %q (%s) on %s", vol.Name, vol.ContainerDisk.Image, sock)
			d, err := containerdisk.Wait(wctx, sock)
			if err != nil {
				p.close()
				return nil, fmt.Errorf("container disk %q: %w", vol.Name, err)
			}
			p.disks = append(p.disks, d)
			p.files = append(p.files, d.File)
			set := len(p.files)
			fd := &MachineFD{FD: 2 + set, Set: set, Opaque: vol.Name}
			overlay := filepath.Join(o.DisksDir, vol.Name+".qcow2")
			if err := r.createOverlay(ctx, overlay, d.Format, FDSetPath(set), d.VirtualSize); err != nil {
				p.close()
				return nil, fmt.Errorf("container disk %q: %w", vol.Name, err)
			}
			r.logf("container disk %q: %s image %s (%d bytes), overlay %s", vol.Name, d.Format, d.Name, d.VirtualSize, overlay)
			p.byVolume[vol.Name] = PreparedDisk{FD: fd, Path: overlay, Format: containerdisk.FormatQCOW2}
		case vol.CloudInitNoCloud != nil:
			c := vol.CloudInitNoCloud
			ud, nc, err := cloudinit.Source{UserData: c.UserData, UserDataBase64: c.UserDataBase64, NetworkData: c.NetworkData, NetworkDataBase64: c.NetworkDataBase64}.Decode()
			if err != nil {
				p.close()
				return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			// KubeVirt's instance-id: the same for every run of a
			// VirtualMachine (each run is a new VMI with a new UID), so
			// cloud-init does not treat a restarted VM with a persistent
			// disk as a new instance (new SSH host keys, per-instance
			// scripts run again).
			id := v.Metadata.Name + "." + v.Metadata.Namespace
			seed := cloudinit.Seed{InstanceID: id, Hostname: v.Hostname(), UserData: ud, NetworkConfig: nc}
			iso := filepath.Join(o.DisksDir, vol.Name+".iso")
			if err := seed.WriteISOFile(iso); err != nil {
				p.close()
				return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			r.logf("cloud-init NoCloud seed %q: %s", vol.Name, iso)
			p.byVolume[vol.Name] = PreparedDisk{Path: iso, Format: containerdisk.FormatRaw, ReadOnly: true}
		case vol.PersistentVolumeClaim != nil:
			d, ok := persistentDiskFlag(o.PersistentDisks, vol.Name)
			if !ok {
				p.close()
				return nil, fmt.Errorf("volume %q: compute has no --persistent-disk for PersistentVolumeClaim %s: the pod was not rendered for this VMI", vol.Name, vol.PersistentVolumeClaim.ClaimName)
			}
			pd, err := preparePersistentDisk(d, statfsFree, r.logf)
			if err != nil {
				p.close()
				return nil, fmt.Errorf("persistent disk %q (PersistentVolumeClaim %s): %w", vol.Name, vol.PersistentVolumeClaim.ClaimName, err)
			}
			p.byVolume[vol.Name] = pd
		case vol.EmptyDisk != nil:
			pd, err := prepareEmptyDisk(o.DisksDir, vol.Name, vol.EmptyDisk.Capacity)
			if err != nil {
				p.close()
				return nil, err
			}
			r.logf("emptyDisk %q: blank sparse raw disk %s (%s)", vol.Name, pd.Path, vol.EmptyDisk.Capacity.String())
			p.byVolume[vol.Name] = pd
		default:
			p.close()
			return nil, fmt.Errorf("volume %q: only containerDisk, cloudInitNoCloud, persistentVolumeClaim and emptyDisk volumes are supported", vol.Name)
		}
	}
	return p, nil
}

// persistentDiskFlag is the --persistent-disk the operator rendered for volume.
func persistentDiskFlag(disks []podcontract.PersistentDisk, volume string) (podcontract.PersistentDisk, bool) {
	for _, d := range disks {
		if d.Volume == volume {
			return d, true
		}
	}
	return podcontract.PersistentDisk{}, false
}

// createOverlay creates a qcow2 overlay whose backing file is backing
// (a /dev/fdset path QEMU resolves to the inherited descriptor). -u skips
// opening the backing file, which only QEMU can; the size comes from the
// image header instead.
func (r *Runner) createOverlay(ctx context.Context, path, backingFormat, backing string, size int64) error {
	_ = os.Remove(path)
	args := OverlayArgs(path, backingFormat, backing, size)
	cmd := exec.CommandContext(ctx, r.Opts.QEMUImgBinary, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img %v: %w: %s", args, err, out)
	}
	return nil
}

// OverlayArgs is the qemu-img argv creating a copy-on-write overlay.
func OverlayArgs(path, backingFormat, backing string, size int64) []string {
	return []string{"create", "-q", "-f", "qcow2", "-F", backingFormat, "-b", backing, "-u", path, strconv.FormatInt(size, 10)}
}
