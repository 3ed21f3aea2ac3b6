#!/bin/bash
# Installs what building, packaging and testing kbackup need on Debian 12, from Debian's archive.
# Idempotent; run as root. Node.js >= 20 must already be installed (Debian 12's own is 18: see README).
#   KBACKUP_DEPS=build   only what `npm run build` and `npm run deb` need (the README's setup)
#   KBACKUP_DEPS=test    also what the test suite and benchmark need (default)
set -euo pipefail
want=${KBACKUP_DEPS:-test}
build=(binutils debhelper dpkg-dev fakeroot lintian)
test=(prometheus debootstrap debian-archive-keyring e2fsprogs qemu-system-x86 ovmf fdisk mtools dosfstools grub-common systemd initramfs-tools-core zstd lz4 xz-utils cpio kmod util-linux hyperfine time)
pkgs=("${build[@]}")
[ "$want" = test ] && pkgs+=("${test[@]}")

command -v node >/dev/null || { echo "packaging/deps.sh: node is not installed (kbackup builds with Node.js >= 20)" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "packaging/deps.sh: node $major is too old; kbackup needs Node.js >= 20 for single executables" >&2; exit 1; }

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
# `apt-get download` in the tests needs current package lists even when nothing is missing.
if [ "${#missing[@]}" -gt 0 ] || [ ! -e /var/lib/apt/lists/lock ] || [ -z "$(find /var/lib/apt/lists -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
  apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "packaging/deps.sh: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
