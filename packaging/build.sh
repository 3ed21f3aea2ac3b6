#!/bin/bash
# Build dist/kbackup: src/main.ts bundled into one CommonJS file, embedded into a copy of this
# machine's node as a Single Executable Application. Fully offline; needs only `npm ci` first.
#
# Usage: packaging/build.sh [--if-stale]
#   --if-stale  do nothing when dist/kbackup is newer than everything it is built from
#
# Environment (for the benchmark and the packaging; defaults are what ships):
#   KBACKUP_DIST_DIR       output directory (default: dist)
#   KBACKUP_SEA_CODE_CACHE yes|no: embed V8's code cache (default yes: measured faster, see
#                          bench/startup.sh)
#   KBACKUP_NODE           the node binary to embed into (default: `command -v node`)
set -euo pipefail
cd "$(dirname "$0")/.."

dist=${KBACKUP_DIST_DIR:-dist}
code_cache=${KBACKUP_SEA_CODE_CACHE:-yes}
node_bin=${KBACKUP_NODE:-$(command -v node || true)}
# The sentinel is fixed by Node: the SEA runtime looks for this fuse to know a blob was injected.
fuse=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2

die() { echo "packaging/build.sh: $*" >&2; exit 1; }

if [ "${1:-}" = --if-stale ]; then
  if [ -x "$dist/kbackup" ] && [ -n "$node_bin" ] && [ -z "$(find src package.json package-lock.json \
      tsconfig.json packaging/build.sh "$(readlink -f "$node_bin")" -newer "$dist/kbackup" -print -quit)" ]; then
    echo "packaging/build.sh: $dist/kbackup is up to date" >&2
    exit 0
  fi
elif [ $# -gt 0 ]; then
  die "usage: packaging/build.sh [--if-stale]"
fi

[ -x node_modules/.bin/esbuild ] && [ -x node_modules/.bin/postject ] ||
  die "node_modules is missing esbuild or postject: run 'npm ci' first"
[ -n "$node_bin" ] && [ -x "$node_bin" ] || die "no node binary found (set KBACKUP_NODE)"
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "$node_bin is Node $node_major; single executables need Node >= 20"
grep -qa "$fuse" "$node_bin" || die "$node_bin has no SEA fuse; it cannot become a single executable"
case $code_cache in yes) use_code_cache=true ;; no) use_code_cache=false ;;
  *) die "KBACKUP_SEA_CODE_CACHE must be yes or no, not '$code_cache'" ;; esac

mkdir -p "$dist"

# One CommonJS file: the SEA runtime's require() only resolves built-in modules, so every
# dependency (yargs and its helpers, package.json's version) must be inside the bundle.
# --keep-names: the error classes name themselves from new.target.name, and a stack printed with
# --verbose should say UsageError, not a minified letter.
node_modules/.bin/esbuild src/main.ts \
  --bundle --platform=node --target=node20 --format=cjs \
  --minify --keep-names --legal-comments=none --log-level=warning \
  --outfile="$dist/kbackup.cjs"

cat >"$dist/sea-config.json" <<EOF
{
  "main": "$dist/kbackup.cjs",
  "output": "$dist/kbackup.blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": $use_code_cache
}
EOF
# Node announces the blob on stderr; keep the build log to what matters.
"$node_bin" --experimental-sea-config "$dist/sea-config.json" 2>&1 >/dev/null |
  { grep -v '^Wrote single executable preparation blob' >&2 || true; }

# Strip the copy *before* injecting: strip rewrites the sections postject has just laid out
# (measured: dh_strip's `strip --remove-section=.note --strip-unneeded` on the finished binary
# leaves one that prints its output and then segfaults). Build into a temporary name so an
# interrupted build never leaves a half-made dist/kbackup behind.
tmp="$dist/.kbackup.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$node_bin" "$tmp"
chmod u+w "$tmp"
strip --strip-all --remove-section=.comment "$tmp"
# Node's binary carries hundreds of .note sections whose names strip has dropped; postject's ELF
# parser warns about each one and injects fine (the --version check below proves it).
node_modules/.bin/postject "$tmp" NODE_SEA_BLOB "$dist/kbackup.blob" \
  --sentinel-fuse "$fuse" 2>&1 >/dev/null |
  { grep -v "warning: Can't find string offset for section name '.note" >&2 || true; }
chmod 0755 "$tmp"

# A SEA honours NODE_OPTIONS; a stray --require in the builder's environment must not decide
# whether the build passes.
expected=$("$node_bin" -p 'require("./package.json").version')
got=$(env -i "$tmp" --version) || die "the built executable failed to run '--version'"
[ "$got" = "$expected" ] ||
  die "the built executable printed '$got' for --version, expected '$expected' (package.json)"

mv -f "$tmp" "$dist/kbackup"
rm -f "$dist/kbackup.blob" "$dist/sea-config.json"
echo "built $dist/kbackup ($expected, $(du -m "$dist/kbackup" | cut -f1) MB, code cache: $code_cache)" >&2
