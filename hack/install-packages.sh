#!/usr/bin/env bash
# install-packages.sh installs the Debian packages VirtMesh's suites and local
# cluster need, so that `make test` and `make run-local` work on a fresh
# machine that has only Go, gcc, git and apt. Installed packages are left
# alone; as root the missing ones are installed, otherwise it stops at once
# and prints the one command that would.
#
# Usage: hack/install-packages.sh [group...]   (default: test)
#   test   the dataplane suite (network namespaces, iptables), the VM suite
#          (QEMU and the guest image's inputs) and the tools they run
#   node   the local cluster's real node (runc and the CNI plugins for the
#          containerd that hack/build-bins.sh builds) and what the images
#          are made of (hack/images: the launcher image's QEMU, firmware and
#          iptables files; the guest's inputs)
set -euo pipefail

declare -A groups=(
  # iproute2/iptables/util-linux/mount/procps: network namespaces, nat rules,
  # unshare/setpriv/nsenter. QEMU and the guest's kernel, busybox, syslinux,
  # mtools, dosfstools, cpio, genisoimage: hack/build-guest.sh and test/vm.
  [test]="iproute2 iptables util-linux mount procps ca-certificates qemu-system-x86 qemu-utils busybox-static linux-image-amd64 syslinux syslinux-common mtools dosfstools cpio genisoimage"
  # runc: containerd's runtime (Debian's 1.1). containernetworking-plugins:
  # bridge, host-local, portmap, loopback in /usr/lib/cni. iptables and
  # iproute2: kube-proxy (iptables mode), the CNI bridge and portmap. The
  # launcher image copies QEMU (qemu-system-x86 and -common for the TCG
  # module), qemu-system-data, seabios and ipxe-qemu (firmware), qemu-utils
  # and iptables (nft) from this host; the guest disk needs the test
  # group's kernel, busybox and syslinux.
  [node]="runc containernetworking-plugins iptables iproute2 util-linux mount procps ca-certificates qemu-system-x86 qemu-system-common qemu-system-data qemu-utils seabios ipxe-qemu busybox-static linux-image-amd64 syslinux syslinux-common mtools dosfstools cpio"
)

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(test)
pkgs=()
for g in "${want[@]}"; do
  [ -n "${groups[$g]:-}" ] || { echo "install-packages: unknown group '$g' (known: ${!groups[*]})" >&2; exit 2; }
  read -r -a list <<<"${groups[$g]}"
  pkgs+=("${list[@]}")
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "install-packages: missing Debian packages: ${missing[*]}" >&2
  echo "install-packages: run as root: $cmd" >&2
  exit 1
fi
echo "install-packages: installing ${missing[*]}" >&2
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -20 "$log" >&2
  echo "install-packages: failed: $cmd" >&2
  exit 1
fi
rm -f "$log"
echo "install-packages: done in $((SECONDS - start))s" >&2
