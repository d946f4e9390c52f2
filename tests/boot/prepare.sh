#!/usr/bin/env bash
# Prepares the Linux boot test's guest: Debian 12's stock kernel (the versioned package that
# linux-image-amd64 depends on) and an initramfs with busybox-static and tests/boot/init.
# Packages come from apt (`apt-get download`, no install, no root unless the package lists are
# missing). Output in DESTDIR: vmlinuz, initramfs.cpio.gz, busybox (the host copy, used to compute
# the expected digest), kernel-version. Cached: a second run with the same inputs does nothing.
#
# Usage: tests/boot/prepare.sh DESTDIR
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DESTDIR" >&2
  exit 2
fi
dest=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

# The initramfs depends on /init, the data generator and this script: rebuild when they change.
init_sum=$(cat "$here/init" "$here/gen_data.sh" "$here/prepare.sh" | sha256sum | cut -d' ' -f1)
if [[ -f $dest/vmlinuz && -f $dest/initramfs.cpio.gz && -x $dest/busybox &&
      -f $dest/init.sha256 && $(cat "$dest/init.sha256") == "$init_sum" ]]; then
  exit 0
fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "prepare.sh: need root to run: $*" >&2; return 1; fi
}

# Resolve the meta package to the versioned kernel package (linux-image-6.1.0-N-amd64).
resolve_kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | head -n1
}
kpkg=$(resolve_kernel_pkg || true)
if [[ -z $kpkg ]] || ! apt-cache show busybox-static >/dev/null 2>&1; then
  as_root apt-get update -qq
  kpkg=$(resolve_kernel_pkg)
fi
if [[ -z $kpkg ]]; then
  echo "prepare.sh: cannot resolve linux-image-amd64 to a linux-image-6.1.*-amd64 package" >&2
  exit 1
fi

work=$dest/work
rm -rf "$work"
mkdir -p "$work/debs" "$work/kernel" "$work/busybox" "$work/root"
# As root, apt drops privileges to _apt, which cannot write into an arbitrary build directory.
apt_opts=()
[[ $(id -u) -eq 0 ]] && apt_opts=(-o APT::Sandbox::User=root)
(cd "$work/debs" && apt-get download -q "${apt_opts[@]}" "$kpkg" busybox-static >/dev/null)
dpkg-deb -x "$work/debs/${kpkg}"_*.deb "$work/kernel"
dpkg-deb -x "$work/debs"/busybox-static_*.deb "$work/busybox"

vmlinuz=$(ls "$work/kernel/boot"/vmlinuz-* | head -n1)
cp "$vmlinuz" "$dest/vmlinuz.tmp"
basename "$vmlinuz" | sed 's/^vmlinuz-//' >"$dest/kernel-version"
cp "$work/busybox/bin/busybox" "$dest/busybox"

# initramfs: busybox with its applet links, /init, the mount points.
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
  [[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$here/init" "$root/init"
install -m 0644 "$here/gen_data.sh" "$root/gen_data.sh"
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9 -n >"$dest/initramfs.cpio.gz.tmp"

mv "$dest/vmlinuz.tmp" "$dest/vmlinuz"
mv "$dest/initramfs.cpio.gz.tmp" "$dest/initramfs.cpio.gz"
echo "$init_sum" >"$dest/init.sha256"
rm -rf "$work"
echo "prepare.sh: $kpkg and busybox-static ready in $dest"
