// The cost of kbackup's hooks inside one real kernel update, as dpkg runs them: a Debian 12 chroot from
// the e2e tier's cached tarballs, /usr/sbin/kbackup wrapped (dpkg-divert) by a script that records the
// wall time of each call, then one same-name kernel update per round (`dpkg -i`, timed as a whole).
// Not a test of speed: it asserts only that every hook ran, and writes the figures for bench/run.sh.
//   BENCH_HOOK_ROUNDS   kernel updates measured (default 3); BENCH_HOOK_OUT   where the JSON goes
import * as fs from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import * as os from 'node:os';
import { buildKernelUpdate, createChroot, type Chroot } from '../test/e2e/harness';

const ROUNDS = Number(process.env.BENCH_HOOK_ROUNDS ?? 3);
const OUT = process.env.BENCH_HOOK_OUT ?? '.cache/bench/hooks.json';
const TIMES = '/var/tmp/kbackup-hook-times';

// `date +%s%N` twice costs a few milliseconds, a sliver of what is measured; the wrapper's own exec
// is what a shim's exec would cost anyway.
const WRAPPER = `#!/bin/sh
s=$(date +%s%N)
/usr/sbin/kbackup.distrib "$@"
rc=$?
e=$(date +%s%N)
echo "$2 $(( (e - s) / 1000000 ))" >>${TIMES}
exit $rc
`;

let c: Chroot | undefined;
afterAll(async () => c?.dispose());

test('hook cost in a real same-name kernel update', async () => {
  c = await createChroot({ label: 'bench-hooks' });
  await c.mustRun('dpkg-divert --local --rename --add /usr/sbin/kbackup');
  c.writeFile('/usr/sbin/kbackup', WRAPPER, 0o755);
  const rounds: { updateMs: number; load: number; hooks: Record<string, number> }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // The same-name update (same package name and ABI, files overwritten in place), built before
    // the clock starts: only dpkg -i is timed.
    const deb = await buildKernelUpdate(i + 1);
    fs.rmSync(c.host(TIMES), { force: true });
    const load = os.loadavg()[0]!;
    const t0 = process.hrtime.bigint();
    const r = await c.installDeb(deb);
    const updateMs = Number((process.hrtime.bigint() - t0) / 1_000_000n);
    expect(r.code, r.stderr).toBe(0);
    const hooks: Record<string, number> = {};
    for (const line of c.readFile(TIMES).trim().split('\n')) {
      const [kind, ms] = line.split(' ');
      hooks[kind!] = (hooks[kind!] ?? 0) + Number(ms);
    }
    expect(Object.keys(hooks).sort()).toEqual(['initramfs', 'postinst', 'postrm', 'preinst']);
    rounds.push({ updateMs, load, hooks });
  }
  fs.mkdirSync(OUT.replace(/\/[^/]*$/, ''), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify({ kernel: c.kernel.version, rounds }, null, 2)}\n`);
});
