// The cost of kbackup's hooks inside one real kernel update, as dpkg runs them: a Debian 12 chroot from
// the e2e tier's cached tarballs, /usr/sbin/kbackup wrapped (dpkg-divert) by a script that records the
// wall time of each call, then one same-name kernel update per round (`dpkg -i`, timed as a whole).
// Not a test of speed: it asserts only that every hook ran, and writes the figures for bench/run.sh.
//   BENCH_HOOK_ROUNDS   kernel updates measured (default 3); BENCH_HOOK_OUT   where the JSON goes;
//   BENCH_KBACKUP_BIN   the kbackup executable to time (default: the one the harness installs from dist/)
import * as fs from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import * as os from 'node:os';
import { buildKernelUpdate, createChroot, type Chroot } from '../test/e2e/harness';

const ROUNDS = Number(process.env.BENCH_HOOK_ROUNDS ?? 3);
const OUT = process.env.BENCH_HOOK_OUT ?? '.cache/bench/hooks.json';
const TIMES = '/var/tmp/kbackup-hook-times';

// `date +%s%N` twice costs a few milliseconds, a sliver of what is measured; the wrapper's own exec
// is what a shim's exec would cost anyway. dash's `times` (run in the wrapper's own shell: in a
// subshell it would see no children) adds the CPU time (user + system) of the call and everything it
// ran, which a loaded machine inflates far less than wall time.
const WRAPPER = `#!/bin/sh
s=$(date +%s%N)
/usr/sbin/kbackup.distrib "$@"
rc=$?
e=$(date +%s%N)
times >/var/tmp/kbackup-hook-cpu.$$
echo "$2 $(( (e - s) / 1000000 )) $(tail -n 1 /var/tmp/kbackup-hook-cpu.$$)" >>${TIMES}
rm -f /var/tmp/kbackup-hook-cpu.$$
exit $rc
`;

/** The children's line of `times`: `0m0.870000s 0m0.410000s` -> milliseconds of user + system. */
function cpuMs(line: string): number {
  return [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce((ms, m) => ms + Number(m[1]) * 60_000 + Number(m[2]) * 1000, 0);
}

let c: Chroot | undefined;
afterAll(async () => c?.dispose());

test('hook cost in a real same-name kernel update', async () => {
  c = await createChroot({ label: 'bench-hooks' });
  await c.mustRun('dpkg-divert --local --rename --add /usr/sbin/kbackup');
  c.writeFile('/usr/sbin/kbackup', WRAPPER, 0o755);
  // BENCH_KBACKUP_BIN: measure another build (e.g. the previous release) in the same chroot recipe.
  if (process.env.BENCH_KBACKUP_BIN) c.writeFile('/usr/sbin/kbackup.distrib', fs.readFileSync(process.env.BENCH_KBACKUP_BIN), 0o755);
  const rounds: { updateMs: number; updateCpuMs: number; load: number; hooks: Record<string, number>; hooksCpu: Record<string, number> }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // The same-name update (same package name and ABI, files overwritten in place), built before
    // the clock starts: only dpkg -i is timed.
    const deb = await buildKernelUpdate(i + 1);
    fs.rmSync(c.host(TIMES), { force: true });
    const inside = `/tmp/${deb.slice(deb.lastIndexOf('/') + 1)}`;
    fs.copyFileSync(deb, c.host(inside));
    const load = os.loadavg()[0]!;
    const t0 = process.hrtime.bigint();
    // `times` must run in this shell, not in a pipeline's or $(…)'s subshell, whose children are none.
    const r = await c.run(`dpkg --force-confdef --force-confold -i ${inside}; rc=$?; times >/var/tmp/dpkg-cpu; tail -n 1 /var/tmp/dpkg-cpu >&2; exit $rc`);
    const updateMs = Number((process.hrtime.bigint() - t0) / 1_000_000n);
    expect(r.code, r.stderr).toBe(0);
    fs.rmSync(c.host(inside));
    const updateCpuMs = cpuMs(r.stderr.trim().split('\n').pop()!);
    const hooks: Record<string, number> = {};
    const hooksCpu: Record<string, number> = {};
    for (const line of c.readFile(TIMES).trim().split('\n')) {
      const [kind, ms, ...cpu] = line.split(' ');
      hooks[kind!] = (hooks[kind!] ?? 0) + Number(ms);
      hooksCpu[kind!] = (hooksCpu[kind!] ?? 0) + cpuMs(cpu.join(' '));
    }
    expect(Object.keys(hooks).sort()).toEqual(['initramfs', 'postinst', 'postrm', 'preinst']);
    rounds.push({ updateMs, updateCpuMs, load, hooks, hooksCpu });
  }
  fs.mkdirSync(OUT.replace(/\/[^/]*$/, ''), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify({ kernel: c.kernel.version, rounds }, null, 2)}\n`);
});
