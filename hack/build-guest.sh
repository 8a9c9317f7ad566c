#!/usr/bin/env bash
# build-guest.sh builds the tiny test guest for test/vm from Debian packages
# only (nothing is downloaded from elsewhere) into bin/guest/:
#
#   bin/guest/disk.img     raw FAT "superfloppy" made bootable by SYSLINUX
#                          (mkfs.vfat + syslinux + mcopy work on the image file,
#                          so no loop mount and no privileges are needed); it
#                          holds the Debian kernel, initrd.img and syslinux.cfg.
#                          This is the containerDisk image test/vm serves.
#   bin/guest/vmlinuz      the same kernel and initramfs, for debugging with
#   bin/guest/initrd.img   direct kernel boot.
#
# The initramfs is busybox-static plus the virtio/isofs/ACPI modules of the
# Debian kernel and a tiny init (busybox init + rcS) that: loads the modules,
# starts acpid (power button -> poweroff, for QMP system_powerdown), mounts the
# NoCloud "cidata" ISO, sets the hostname from meta-data, gets eth0's address
# by DHCP (udhcpc) and runs user-data as a shell script.
#
# The build is cached: it is redone only when this script, the kernel or
# busybox change (hash in bin/guest/.stamp).
#
# Debian packages: linux-image-amd64 busybox-static syslinux syslinux-common
# mtools dosfstools cpio for the guest, and qemu-system-x86 qemu-utils to run
# it (test/vm). Missing ones are installed with apt-get when run as root,
# unless BUILD_GUEST_INSTALL=0 (what test/vm sets: a test never installs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/guest"
pkgs=(linux-image-amd64 busybox-static syslinux syslinux-common mtools dosfstools cpio qemu-system-x86 qemu-utils)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${BUILD_GUEST_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "build-guest: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
  else
    echo "build-guest: missing Debian packages: ${missing[*]} (apt-get install them)" >&2
    exit 1
  fi
fi

kver=$(cd /lib/modules && ls -d *-amd64 2>/dev/null | sort -V | tail -1)
kernel="/boot/vmlinuz-$kver"
if [ -z "$kver" ] || [ ! -r "$kernel" ]; then
  echo "build-guest: no Debian amd64 kernel found in /boot and /lib/modules" >&2
  exit 1
fi
mods="/lib/modules/$kver/kernel"
# Load order matters: insmod does not resolve dependencies.
modules=(
  drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci_modern_dev.ko
  drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko
  drivers/char/hw_random/virtio-rng.ko
  net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko
  drivers/cdrom/cdrom.ko fs/isofs/isofs.ko
  drivers/input/evdev.ko drivers/acpi/button.ko
)

stamp=$( { cat "$0"; echo "$kver"; sha256sum "$kernel" /bin/busybox; } | sha256sum | cut -c1-16)
if [ -f "$out/disk.img" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "build-guest: $out is up to date (kernel $kver)" >&2
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ird="$work/initramfs"
mkdir -p "$ird"/{bin,dev,etc/acpi/PWRF,lib/modules,mnt/cidata,proc,run,sys,tmp,www}
cp /bin/busybox "$ird/bin/busybox"
for m in "${modules[@]}"; do
  cp "$mods/$m" "$ird/lib/modules/"
done
printf '%s\n' "${modules[@]##*/}" > "$ird/lib/modules/order"

cat > "$ird/init" <<'INIT'
#!/bin/busybox sh
# PID 1 of the test guest: install applets, then hand over to busybox init
# (which handles poweroff/reboot requests properly).
/bin/busybox --install -s /bin
export PATH=/bin
exec /bin/init
INIT

cat > "$ird/etc/inittab" <<'TAB'
::sysinit:/etc/rcS
::shutdown:/etc/rc.shutdown
TAB

cat > "$ird/etc/rcS" <<'RCS'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "guest-init: insmod $m failed"; done
# The power button (QMP system_powerdown) powers the guest off cleanly.
sleep 1
acpid -c /etc/acpi -l /run/acpid.log
echo "guest-init: acpid started"

# Tiny cloud-init (NoCloud): find the cidata ISO among the virtio disks.
seed=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  for d in /dev/vd*; do
    [ -b "$d" ] || continue
    if mount -t iso9660 -o ro "$d" /mnt/cidata 2>/dev/null; then
      if [ -f /mnt/cidata/meta-data ]; then seed=$d; break 2; fi
      umount /mnt/cidata
    fi
  done
  sleep 1
done
if [ -n "$seed" ]; then
  host=$(sed -n 's/^local-hostname: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /mnt/cidata/meta-data)
  id=$(sed -n 's/^instance-id: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /mnt/cidata/meta-data)
  [ -n "$host" ] && hostname "$host"
  echo "guest-init: cloud-init seed on $seed: instance-id=$id hostname=$host"
else
  echo "guest-init: no cidata seed found"
fi

ip link set lo up
ip link set eth0 up
if udhcpc -i eth0 -s /etc/udhcpc.sh -q -n -t 30 -T 1; then
  echo "guest-init: eth0 $(ip -4 -o addr show dev eth0 | awk '{print $4}') via DHCP"
else
  echo "guest-init: DHCP failed"
fi

if [ -n "$seed" ] && [ -f /mnt/cidata/user-data ]; then
  cp /mnt/cidata/user-data /run/user-data
  chmod +x /run/user-data
  echo "guest-init: running user-data"
  /run/user-data > /run/user-data.log 2>&1
  echo "guest-init: user-data exited $?"
  cat /run/user-data.log
fi
echo "guest-init: boot finished"
RCS

cat > "$ird/etc/rc.shutdown" <<'DOWN'
#!/bin/sh
echo "guest-init: shutting down"
DOWN

# busybox acpid runs /etc/acpi/<event>/<code> for power button presses.
cat > "$ird/etc/acpi/PWRF/00000080" <<'PWR'
#!/bin/sh
echo "guest-init: ACPI power button: powering off" > /dev/console
poweroff
PWR

cat > "$ird/etc/udhcpc.sh" <<'DHCP'
#!/bin/sh
# udhcpc hook: configure the lease (address, router, DNS).
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
  for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
  : > /etc/resolv.conf
  [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
  ;;
esac
exit 0
DHCP
chmod +x "$ird/init" "$ird/etc/rcS" "$ird/etc/rc.shutdown" "$ird/etc/acpi/PWRF/00000080" "$ird/etc/udhcpc.sh"

(cd "$ird" && find . | cpio -o -H newc --quiet) | gzip -9 > "$work/initrd.img"
cp "$kernel" "$work/vmlinuz"

cat > "$work/syslinux.cfg" <<'CFG'
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  KERNEL vmlinuz
  APPEND initrd=initrd.img console=ttyS0 loglevel=4
CFG

# A FAT filesystem on a plain file, made bootable by SYSLINUX's mtools-based
# installer: no loop device, no mount, no root needed.
size_mb=$(( ( $(stat -c %s "$work/vmlinuz") + $(stat -c %s "$work/initrd.img") ) / 1048576 + 8 ))
truncate -s "${size_mb}M" "$work/disk.img"
mkfs.vfat -n GUESTBOOT "$work/disk.img" >/dev/null
syslinux --install "$work/disk.img"
mcopy -i "$work/disk.img" "$work/vmlinuz" "$work/initrd.img" "$work/syslinux.cfg" ::/

mkdir -p "$out"
cp "$work/disk.img" "$work/vmlinuz" "$work/initrd.img" "$out/"
echo "$stamp" > "$out/.stamp"
echo "build-guest: built $out (kernel $kver, disk ${size_mb}MiB)" >&2
