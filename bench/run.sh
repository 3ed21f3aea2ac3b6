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

# 1. The hook's backup against its floor: a backup must both copy durably and hash, so the floor is
#    max(cp -p of the same files followed by sync, openssl's sha256 of them). All start from a warm
#    page cache; the copies end with the data on disk.
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/copy.json" \
  --prepare "bash -c 'rm -f $boot/*~~backup* $work/root/var/lib/kbackup/manifest.json $work/cp/*; sync'" \
  "bash -c 'cp -p $boot/vmlinuz-$V $boot/initrd.img-$V $work/cp/ && sync'" \
  "openssl dgst -sha256 $boot/vmlinuz-$V $boot/initrd.img-$V" \
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

# 4. check on a machine with three kernels and eight backup sets, warm page cache (the warm-up runs
#    also fill the initrd summary cache, as the last kernel update would have): real zstd images
#    (a 24 MiB random module tree, so 24 MiB compressed) behind an 8 MiB vmlinuz each.
croot=$work/check-root
mkdir -p "$croot/boot" "$croot/etc/default"
echo "KEEP=4" >"$croot/etc/default/kbackup"
for k in 1 2 3; do
  kv=6.1.0-$k-amd64
  t=$work/tree-$k
  mkdir -p "$t/usr/lib/modules/$kv/kernel/fs" "$t/conf"
  head -c $((24 << 20)) /dev/urandom >"$t/usr/lib/modules/$kv/kernel/fs/big.ko"
  echo "kernel/fs/big.ko:" >"$t/usr/lib/modules/$kv/modules.dep"
  echo "MODULES=most" >"$t/conf/initramfs.conf"
  head -c $((8 << 20)) /dev/urandom >"$croot/boot/vmlinuz-$kv"
  (cd "$t" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | zstd -q -1) >"$croot/boot/initrd.img-$kv"
  echo "# $kv" >"$croot/boot/config-$kv"
  echo "ffffffff81000000 T _text $k" >"$croot/boot/System.map-$kv"
done
# Eight sets: three of kernel 1, three of kernel 2, two of kernel 3, each after its live files changed.
for k in 1 1 1 2 2 2 3 3; do
  kv=6.1.0-$k-amd64
  "$bin" --root "$croot" -q hook preinst "$kv" >/dev/null 2>&1
  head -c 4096 /dev/urandom | dd of="$croot/boot/vmlinuz-$kv" conv=notrunc status=none
done
hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/check.json" -i "$bin --root $croot check" >/dev/null 2>&1
sets=$("$bin" --root "$croot" list --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).length))')

node - "$work/copy.json" "$work/list.json" "$rss_kib" "$work/check.json" "$sets" <<'JS'
const fs = require('node:fs');
const [copyJson, listJson, rss, checkJson, sets] = process.argv.slice(2);
const copy = JSON.parse(fs.readFileSync(copyJson, 'utf8')).results;
const list = JSON.parse(fs.readFileSync(listJson, 'utf8')).results;
const check = JSON.parse(fs.readFileSync(checkJson, 'utf8')).results;
const floor = Math.max(copy[0].mean, copy[1].mean);
const out = {
  cp_sync_s: copy[0].mean.toFixed(3),
  openssl_sha256_s: copy[1].mean.toFixed(3),
  hook_backup_s: copy[2].mean.toFixed(3),
  ratio_backup_vs_floor: `${(copy[2].mean / floor).toFixed(2)} (floor = max(cp -p + sync, openssl sha256) = ${floor.toFixed(3)} s; target <= 1.25)`,
  check_3_kernels_s: `${check[0].mean.toFixed(3)} (${sets} sets, warm; target <= 1.0)`,
  peak_rss_mib: `${(Number(rss) / 1024).toFixed(1)} (target <= 100)`,
  list_500_sets_ms: `${(list[0].mean * 1000).toFixed(0)} (target <= 300)`,
};
for (const [k, v] of Object.entries(out)) console.log(`${k}=${v}`);
JS

echo "# startup (bench/startup.sh)" >&2
BENCH_RUNS=${BENCH_STARTUP_RUNS:-30} bash bench/startup.sh

# 5. kbackup's hooks as dpkg runs them in one real same-name kernel update (bench/hook-cost.run.ts: a
#    Debian 12 chroot from the e2e tier's cached tarballs; needs root; BENCH_HOOKS=0 skips it). Each
#    hook's wall time side by side with the whole `dpkg -i`, per round (alternately on all CPUs and
#    confined to one), and the median shares.
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
console.log('# wall time, then CPU time (user + system of the hook and all it ran; a loaded machine inflates it less);');
console.log('# every other round runs the whole update confined to one CPU (taskset -c 0).');
console.log(['round', 'cpus', 'load', 'clock', 'update_ms', ...hooks, 'all_hooks'].join('\t'));
const wall = { many: [], one: [] };
const cpuShares = [];
rounds.forEach((r, i) => {
  (r.cpus === 1 ? wall.one : wall.many).push(sum(r.hooks) / r.updateMs);
  const cpuTotal = r.allCpuMs ?? r.updateCpuMs;
  cpuShares.push(sum(r.hooksCpu) / cpuTotal);
  console.log([i + 1, r.cpus, r.load.toFixed(1), 'wall', r.updateMs, ...hooks.map((h) => `${r.hooks[h]} (${pct(r.hooks[h], r.updateMs)})`), `${sum(r.hooks)} (${pct(sum(r.hooks), r.updateMs)})`].join('\t'));
  console.log([i + 1, r.cpus, '', 'cpu', cpuTotal, ...hooks.map((h) => `${r.hooksCpu[h]} (${pct(r.hooksCpu[h], cpuTotal)})`), `${sum(r.hooksCpu)} (${pct(sum(r.hooksCpu), cpuTotal)})`].join('\t'));
});
const m = (xs) => (xs.length ? `${(100 * median(xs)).toFixed(2)} %` : 'n/a');
console.log(`hooks_share_of_update_wall_all_cpus=${m(wall.many)} (median of ${wall.many.length}; target <= 1.5 %)`);
console.log(`hooks_share_of_update_wall_one_cpu=${m(wall.one)} (median of ${wall.one.length}; target <= 2 %)`);
console.log(`kbackup_share_of_update_cpu=${m(cpuShares)} (every kbackup process and what it ran, against the whole update's CPU${rounds.some((r) => r.allCpuMs === undefined) ? '; no cgroup here: the update\'s own children only' : ' from a cgroup'}; target <= 2 %)`);
JS
fi
