#!/bin/bash
# kbackup's benchmark: ratios measured side by side in one run, on the built dist/kbackup.
# Not a test: it prints figures and the targets they are held against; it never fails on speed.
#   BENCH_RUNS   hyperfine runs per command (default 10)
#   BENCH_DIR    scratch directory (default .cache/bench; must be on a real disk, not tmpfs)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${BENCH_RUNS:-10}
bin=$PWD/dist/kbackup
work=${BENCH_DIR:-$PWD/.cache/bench}
[ -x "$bin" ] || { echo "bench/run.sh: dist/kbackup is missing: run npm run build first" >&2; exit 1; }
for tool in hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is not installed (apt-get install hyperfine time)" >&2; exit 1; }
done

V=6.1.0-18-amd64
rm -rf "$work"
mkdir -p "$work/root/boot" "$work/cp"
boot=$work/root/boot
echo "# preparing an 8 MiB vmlinuz and a 256 MiB initrd in $boot" >&2
head -c $((8 << 20)) /dev/urandom >"$boot/vmlinuz-$V"
head -c $((256 << 20)) /dev/urandom >"$boot/initrd.img-$V"
chmod 0600 "$boot/initrd.img-$V"
echo "MIN_FREE_MB=0" >"$work/config"

# 1. The hook's backup against cp -p of the same files followed by sync. Both start from a warm
#    page cache and end with the data on disk.
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/copy.json" \
  --prepare "bash -c 'rm -f $boot/*~~backup* $work/root/var/lib/kbackup/manifest.json $work/cp/*; sync'" \
  "bash -c 'cp -p $boot/vmlinuz-$V $boot/initrd.img-$V $work/cp/ && sync'" \
  "$bin --root $work/root --config $work/config -q hook preinst $V" >/dev/null 2>&1

# 2. Peak RSS of that backup.
rm -f "$boot"/*~~backup* "$work/root/var/lib/kbackup/manifest.json"
rss_kib=$(/usr/bin/time -f %M "$bin" --root "$work/root" --config "$work/config" -q hook preinst "$V" 2>&1 >/dev/null | tail -n 1)

# 3. list over a /boot holding 500 backup sets (small files: list reads metadata, not data).
lroot=$work/list-root
mkdir -p "$lroot/boot"
node -e '
const fs = require("fs"); const [dir, v] = process.argv.slice(1);
const sets = [];
for (let i = 0; i < 500; i++) {
  const d = new Date(Date.UTC(2020, 0, 1) + i * 3600e3);
  const s = d.toISOString().replace(/[-:T]/g, "").slice(0, 12);
  const files = [];
  for (const stem of ["kernel", "initrd.img", "config", "System.map"]) {
    const name = `${stem}-${v}~~backup${s}`;
    fs.writeFileSync(`${dir}/boot/${name}`, stem);
    const st = fs.statSync(`${dir}/boot/${name}`);
    files.push({ stem: stem === "kernel" ? "vmlinuz" : stem, name, size: st.size, mode: 0o644, uid: 0, gid: 0, mtime: st.mtime.toISOString(), sha256: "0".repeat(64) });
  }
  sets.push({ id: `${v}~~backup${s}`, version: v, created: d.toISOString(), origin: "snapshot", files });
}
fs.mkdirSync(`${dir}/var/lib/kbackup`, { recursive: true });
fs.writeFileSync(`${dir}/var/lib/kbackup/manifest.json`, JSON.stringify({ format: 1, sets }));' "$lroot" "$V"
[ "$("$bin" --root "$lroot" list --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')" = 500 ] ||
  { echo "bench/run.sh: the list fixture does not hold 500 sets" >&2; exit 1; }
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/list.json" "$bin --root $lroot list" >/dev/null 2>&1

node - "$work/copy.json" "$work/list.json" "$rss_kib" <<'JS'
const fs = require('node:fs');
const [copyJson, listJson, rss] = process.argv.slice(2);
const copy = JSON.parse(fs.readFileSync(copyJson, 'utf8')).results;
const list = JSON.parse(fs.readFileSync(listJson, 'utf8')).results;
const out = {
  cp_sync_s: copy[0].mean.toFixed(3),
  hook_backup_s: copy[1].mean.toFixed(3),
  ratio_hook_vs_cp_sync: `${(copy[1].mean / copy[0].mean).toFixed(2)} (target <= 1.25)`,
  peak_rss_mib: `${(Number(rss) / 1024).toFixed(1)} (target <= 100)`,
  list_500_sets_ms: `${(list[0].mean * 1000).toFixed(0)} (target <= 300)`,
};
for (const [k, v] of Object.entries(out)) console.log(`${k}=${v}`);
JS

echo "# startup (bench/startup.sh)" >&2
BENCH_RUNS=${BENCH_STARTUP_RUNS:-30} bash bench/startup.sh

# 4. kbackup's hooks as dpkg runs them in one real same-name kernel update (bench/hook-cost.run.ts: a
#    Debian 12 chroot from the e2e tier's cached tarballs; needs root; BENCH_HOOKS=0 skips it). Each
#    hook's wall time side by side with the whole `dpkg -i`, per round, and the median share.
if [ "${BENCH_HOOKS:-1}" != 0 ]; then
  echo "# kbackup hooks in a real kernel update (bench/hook-cost.run.ts, ${BENCH_HOOK_ROUNDS:-3} rounds)" >&2
  BENCH_KBACKUP_BIN=${BENCH_KBACKUP_BIN:-$bin} BENCH_HOOK_OUT=$work/hooks.json npx vitest run --config bench/hooks.config.ts >"$work/hooks.log" 2>&1 ||
    { tail -n 40 "$work/hooks.log" >&2; echo "bench/run.sh: the hook-cost run failed (log: $work/hooks.log)" >&2; exit 1; }
  node - "$work/hooks.json" <<'JS'
const fs = require('node:fs');
const { kernel, rounds } = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const hooks = ['preinst', 'postrm', 'initramfs', 'postinst'];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (ms, total) => `${((100 * ms) / total).toFixed(1)} %`;
const sum = (o) => hooks.reduce((t, h) => t + (o[h] ?? 0), 0);
console.log(`# same-name update of linux-image-${kernel} (dpkg -i): each hook's ms and share of the update,`);
console.log('# wall time, then CPU time (user + system of the hook and all it ran; a loaded machine inflates it less).');
console.log('# background: CPU of the processes nobody waited for (the initrd reader the initramfs hook starts');
console.log('# while update-grub runs), from a cgroup holding the whole update; counted in the hooks\' CPU share.');
console.log(['round', 'load', 'clock', 'update_ms', ...hooks, 'background', 'all_hooks'].join('\t'));
const wallShares = [];
const cpuShares = [];
rounds.forEach((r, i) => {
  wallShares.push(sum(r.hooks) / r.updateMs);
  const background = r.allCpuMs !== undefined ? Math.max(0, r.allCpuMs - r.updateCpuMs) : undefined;
  const cpuTotal = r.allCpuMs ?? r.updateCpuMs;
  const hooksCpu = sum(r.hooksCpu) + (background ?? 0);
  cpuShares.push(hooksCpu / cpuTotal);
  console.log([i + 1, r.load.toFixed(1), 'wall', r.updateMs, ...hooks.map((h) => `${r.hooks[h]} (${pct(r.hooks[h], r.updateMs)})`), '-', `${sum(r.hooks)} (${pct(sum(r.hooks), r.updateMs)})`].join('\t'));
  console.log([i + 1, '', 'cpu', cpuTotal, ...hooks.map((h) => `${r.hooksCpu[h]} (${pct(r.hooksCpu[h], cpuTotal)})`), background === undefined ? 'n/a (no cgroup)' : `${background} (${pct(background, cpuTotal)})`, `${hooksCpu} (${pct(hooksCpu, cpuTotal)})`].join('\t'));
});
console.log(`hooks_share_of_update_wall=${(100 * median(wallShares)).toFixed(1)} % (median of ${rounds.length}; target <= 3 %)`);
console.log(`hooks_share_of_update_cpu=${(100 * median(cpuShares)).toFixed(1)} % (background reader included${rounds.some((r) => r.allCpuMs === undefined) ? '; no cgroup here: background not measured' : ''})`);
JS
fi
