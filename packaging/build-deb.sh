#!/bin/bash
# Build dist/kbackup_<version>_amd64.deb with dpkg-buildpackage, in a private copy of the sources
# under .cache/deb/ so that the work tree (and its parent directory, where dpkg-buildpackage puts
# .changes and .buildinfo) stays clean and two builds can run at once.
#
# The version is package.json's; debian/changelog must agree. Environment:
#   KBACKUP_DEB_VERSION  build the .deb under another Debian version (for upgrade tests, e.g.
#                        0.1.0+e2e2): a changelog entry is added in the private copy only. The
#                        program's own --version still prints package.json's version.
#   KBACKUP_DEB_OUTDIR   where to leave the .deb (default: dist)
#   KBACKUP_DPKG_BUILDPACKAGE_FLAGS  extra flags, e.g. "-d" to build with a node that is not the
#                        nodejs package Build-Depends names (a nodejs.org tarball on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "packaging/build-deb.sh: $*" >&2; exit 1; }

pkg_version=$(node -p 'require("./package.json").version')
changelog_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$changelog_version" != "$pkg_version" ]; then
  die "debian/changelog is at $changelog_version but package.json at $pkg_version: add a debian/changelog entry for $pkg_version (the .deb version follows package.json)"
fi
deb_version=${KBACKUP_DEB_VERSION:-$pkg_version}
dpkg --validate-version "$deb_version" 2>/dev/null ||
  die "KBACKUP_DEB_VERSION='$deb_version' is not a valid Debian version"
case $deb_version in *-*) die "KBACKUP_DEB_VERSION='$deb_version': a native package's version has no '-'" ;; esac
arch=$(dpkg --print-architecture)
[ "$arch" = amd64 ] || die "debian/control builds for amd64 only; this machine is $arch"
outdir=${KBACKUP_DEB_OUTDIR:-dist}

bash packaging/build.sh --if-stale

mkdir -p .cache/deb "$outdir"
stage=$(mktemp -d "$PWD/.cache/deb/build.XXXXXX")
trap 'rm -rf "$stage"' EXIT
src="$stage/kbackup-$deb_version"
mkdir "$src"
# cp -a keeps the mtimes that let debian/rules reuse dist/kbackup; -l hard-links the 80 MB
# executable instead of copying it (build.sh replaces it by rename, never in place).
cp -a debian hooks packaging src package.json package-lock.json tsconfig.json "$src/"
mkdir "$src/dist"
cp -al dist/kbackup "$src/dist/kbackup"
ln -s "$PWD/node_modules" "$src/node_modules"

if [ "$deb_version" != "$changelog_version" ]; then
  maintainer=$(dpkg-parsechangelog -l debian/changelog -S Maintainer)
  {
    printf 'kbackup (%s) unstable; urgency=medium\n\n' "$deb_version"
    printf '  * Local build of %s as %s (KBACKUP_DEB_VERSION).\n\n' "$pkg_version" "$deb_version"
    printf ' -- %s  %s\n\n' "$maintainer" "$(date -R)"
    cat debian/changelog
  } >"$src/debian/changelog"
fi

log=.cache/deb/build-$deb_version.log
# shellcheck disable=SC2086 # the flags are words
(cd "$src" && dpkg-buildpackage -b -us -uc ${KBACKUP_DPKG_BUILDPACKAGE_FLAGS:-}) >"$log" 2>&1 || {
  tail -n 40 "$log" >&2
  die "dpkg-buildpackage failed (last lines above; full log: $log)"
}

deb="kbackup_${deb_version}_${arch}.deb"
[ -f "$stage/$deb" ] || die "dpkg-buildpackage did not produce $deb"
mv -f "$stage/$deb" "$outdir/$deb"
echo "built $outdir/$deb ($(du -m "$outdir/$deb" | cut -f1) MB)" >&2
