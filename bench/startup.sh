#!/bin/bash
# Startup cost of the single executable, against plain `node -e 0`, with and without V8's code
# cache embedded (packaging/build.sh's KBACKUP_SEA_CODE_CACHE), and its size. Needs dist/kbackup
# (npm run build) and hyperfine. Prints key=value lines; times in ms, the median of the runs.
#   BENCH_RUNS  hyperfine runs per command (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-40}
[ -x dist/kbackup ] || { echo "bench/startup.sh: dist/kbackup is missing: run npm run build first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/startup.sh: hyperfine is not installed" >&2; exit 1; }

# The other variant, built next to the cache rather than over dist/.
work=.cache/bench-startup
mkdir -p "$work"
for cc in yes no; do
  KBACKUP_DIST_DIR="$work/cache-$cc" KBACKUP_SEA_CODE_CACHE=$cc bash packaging/build.sh >/dev/null 2>&1
done

# hyperfine runs each command's runs back to back; on a shared machine the load drifts, so the
# runs are split into rounds that alternate the commands, and the medians are taken over all rounds.
rounds=10
per_round=$(( (runs + rounds - 1) / rounds ))
for r in $(seq 1 $rounds); do
  hyperfine -N --warmup 1 --runs "$per_round" --export-json "$work/startup-$r.json" \
    'node -e 0' "$work/cache-yes/kbackup --version" "$work/cache-no/kbackup --version" >/dev/null 2>&1
done

version=$(node -p 'require("./package.json").version')
node - "$work" "$rounds" dist/kbackup "dist/kbackup_${version}_amd64.deb" <<'JS'
const fs = require('node:fs');
const [work, rounds, bin, deb] = process.argv.slice(2);
const all = [[], [], []];
const cpu = [[], [], []];
for (let r = 1; r <= Number(rounds); r++) {
  const results = JSON.parse(fs.readFileSync(`${work}/startup-${r}.json`, 'utf8')).results;
  results.forEach((res, i) => {
    all[i].push(...res.times);
    cpu[i].push((res.user + res.system) * res.times.length);
  });
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ms = (i) => median(all[i]) * 1000;
const cpuMs = (i) => (cpu[i].reduce((a, b) => a + b, 0) / all[i].length) * 1000;
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
  cpu_ratio_codecache_vs_node: (cpuMs(withCache) / cpuMs(node)).toFixed(2),
  cpu_ratio_nocodecache_vs_node: (cpuMs(withoutCache) / cpuMs(node)).toFixed(2),
};
for (const [k, v] of Object.entries(lines)) console.log(`${k}=${v}`);
JS
