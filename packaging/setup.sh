#!/bin/bash
# The README's one setup command: build dependencies, `npm ci`, the single executable, the .deb,
# and its installation. From then on every kernel update on this machine is protected.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "packaging/setup.sh: run as root (it installs packages)" >&2; exit 1; }
KBACKUP_DEPS=build bash packaging/deps.sh
npm ci --no-audit --no-fund
npm run build
npm run deb
deb=$(ls -t dist/kbackup_*_amd64.deb | head -n 1)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
echo "installed $deb; kbackup $(kbackup --version) now protects kernel updates. Try: kbackup check; kbackup list" >&2
