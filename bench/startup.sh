#!/bin/bash
# Startup cost of the single executable, against plain `node -e 0`, with and without V8's code
# cache embedded (packaging/build.sh's KBACKUP_SEA_CODE_CACHE), and its size. Needs dist/kbackup
# (npm run build) and hyperfine. Prints key=value lines; times in ms, the median of the runs
# (hyperfine runs one command's runs back to back, so on a busy machine the median is the fair one).
#   BENCH_RUNS  hyperfine runs per command (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-30}
[ -x dist/kbackup ] || { echo "bench/startup.sh: dist/kbackup is missing: run npm run build first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/startup.sh: hyperfine is not installed" >&2; exit 1; }

# The other variant, built next to the cache rather than over dist/.
work=.cache/bench-startup
mkdir -p "$work"
for cc in yes no; do
  KBACKUP_DIST_DIR="$work/cache-$cc" KBACKUP_SEA_CODE_CACHE=$cc bash packaging/build.sh >/dev/null 2>&1
done

hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/startup.json" \
  'node -e 0' "$work/cache-yes/kbackup --version" "$work/cache-no/kbackup --version" >/dev/null 2>&1

version=$(node -p 'require("./package.json").version')
node - "$work/startup.json" dist/kbackup "dist/kbackup_${version}_amd64.deb" <<'JS'
const fs = require('node:fs');
const [json, bin, deb] = process.argv.slice(2);
const results = JSON.parse(fs.readFileSync(json, 'utf8')).results;
const ms = (i) => results[i].median * 1000;
const cpu = (i) => (results[i].user + results[i].system) * 1000;
const [node, withCache, withoutCache] = [0, 1, 2];
const lines = {
  kbackup_size_bytes: fs.statSync(bin).size,
  kbackup_size_mib: (fs.statSync(bin).size / 2 ** 20).toFixed(1),
  deb_size_bytes: fs.existsSync(deb) ? fs.statSync(deb).size : 'not built (npm run deb)',
  node_e0_ms: ms(node).toFixed(1),
  kbackup_version_codecache_ms: ms(withCache).toFixed(1),
  kbackup_version_nocodecache_ms: ms(withoutCache).toFixed(1),
  ratio_codecache_vs_node: (ms(withCache) / ms(node)).toFixed(2),
  ratio_nocodecache_vs_node: (ms(withoutCache) / ms(node)).toFixed(2),
  cpu_ratio_codecache_vs_node: (cpu(withCache) / cpu(node)).toFixed(2),
  cpu_ratio_nocodecache_vs_node: (cpu(withoutCache) / cpu(node)).toFixed(2),
};
for (const [k, v] of Object.entries(lines)) console.log(`${k}=${v}`);
JS
