// The cost of kbackup's hooks inside one real kernel update, as dpkg runs them: a Debian 12 chroot from
// the e2e tier's cached tarballs, each of kbackup's hook scripts wrapped by one that records its
// wall time, then one same-name kernel update per round (`dpkg -i`, timed as a whole).
// Not a test of speed: it asserts only that every hook ran, and writes the figures for bench/run.sh.
// The whole update also runs in a CPU accounting cgroup of its own, whose CPU time counts every
// process, so the hooks' CPU (from `times`) is held against all of the update's. Rounds alternate
// between the machine's CPUs and the whole update confined to one CPU (taskset -c 0), the small VM
// kbackup protects most, where work a hook hides on a second core shows up as wall time again.
// After each update no process may be left in the chroot.
//   BENCH_HOOK_ROUNDS   kernel updates measured per CPU setting (default 2); BENCH_HOOK_OUT   where the JSON goes;
//   BENCH_KBACKUP_BIN   the kbackup executable to time (default: the one the harness installs from dist/)
import * as fs from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import * as os from 'node:os';
import { buildKernelUpdate, createChroot, type Chroot } from '../test/e2e/harness';

const ROUNDS = Number(process.env.BENCH_HOOK_ROUNDS ?? 2);
const OUT = process.env.BENCH_HOOK_OUT ?? '.cache/bench/hooks.json';
const TIMES = '/var/tmp/kbackup-hook-times';

// Each of kbackup's four hook scripts is wrapped: the script itself moves to NAME.timed (run-parts
// runs no name with a dot in it) and a wrapper in its place records the wall time of the script as
// dpkg runs it (its shell, the NODE_* clean-up, kbackup), so a script that answers without starting
// kbackup is measured too. `date +%s%N` twice costs a few milliseconds, a sliver of what is measured.
// dash's `times` (run in the wrapper's own shell: in a subshell it would see no children) adds the CPU
// time (user + system) of the script and everything it ran, which a loaded machine inflates far less
// than wall time.
const SHIMS = [
  ['preinst', '/etc/kernel/preinst.d/00-kbackup'],
  ['postrm', '/etc/kernel/postrm.d/kbackup'],
  ['initramfs', '/etc/initramfs/post-update.d/kbackup'],
  ['postinst', '/etc/kernel/postinst.d/zzz-kbackup'],
] as const;

const wrapper = (kind: string, script: string) => `#!/bin/sh
s=$(date +%s%N)
${script}.timed "$@"
rc=$?
e=$(date +%s%N)
times >/var/tmp/kbackup-hook-cpu.$$
echo "${kind} $(( (e - s) / 1000000 )) $(tail -n 1 /var/tmp/kbackup-hook-cpu.$$)" >>${TIMES}
rm -f /var/tmp/kbackup-hook-cpu.$$
exit $rc
`;

/** The children's line of `times`: `0m0.870000s 0m0.410000s` -> milliseconds of user + system. */
function cpuMs(line: string): number {
  return [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce((ms, m) => ms + Number(m[1]) * 60_000 + Number(m[2]) * 1000, 0);
}

/**
 * A CPU accounting cgroup this process moves into (its children follow): cgroup v1's cpuacct or
 * cgroup v2. Returns a reader of the group's CPU time in ms and a function that leaves and removes
 * it, or undefined where neither is writable.
 */
function cpuGroup(): { cpuMs(): number; leave(): void } | undefined {
  const name = `kbackup-bench-${process.pid}`;
  const candidates = [
    { dir: '/sys/fs/cgroup/cpuacct', read: (g: string) => Number(fs.readFileSync(`${g}/cpuacct.usage`, 'utf8')) / 1e6 },
    { dir: '/sys/fs/cgroup', read: (g: string) => Number(/usage_usec (\d+)/.exec(fs.readFileSync(`${g}/cpu.stat`, 'utf8'))?.[1]) / 1e3 },
  ];
  for (const { dir, read } of candidates) {
    if (!fs.existsSync(`${dir}/cgroup.procs`)) continue;
    const group = `${dir}/${name}`;
    const leave = () => {
      fs.writeFileSync(`${dir}/cgroup.procs`, String(process.pid));
      fs.rmdirSync(group);
    };
    try {
      fs.mkdirSync(group);
      fs.writeFileSync(`${group}/cgroup.procs`, String(process.pid));
      read(group);
      return { cpuMs: () => read(group), leave };
    } catch {
      try {
        leave();
      } catch {
        // not made, or not ours to remove
      }
    }
  }
  return undefined;
}

/** Processes running inside the chroot `root`, with their command lines. */
function processesIn(root: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (fs.realpathSync(`/proc/${pid}/root`) !== fs.realpathSync(root)) continue;
      found.push(`${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

let c: Chroot | undefined;
let group: ReturnType<typeof cpuGroup>;
afterAll(async () => {
  group?.leave();
  await c?.dispose();
});

test('hook cost in a real same-name kernel update', async () => {
  c = await createChroot({ label: 'bench-hooks' });
  for (const [kind, script] of SHIMS) {
    await c.mustRun(`mv ${script} ${script}.timed`);
    c.writeFile(script, wrapper(kind, script), 0o755);
  }
  // BENCH_KBACKUP_BIN: measure another build (e.g. the previous release) in the same chroot recipe.
  if (process.env.BENCH_KBACKUP_BIN) c.writeFile('/usr/sbin/kbackup', fs.readFileSync(process.env.BENCH_KBACKUP_BIN), 0o755);
  const rounds: {
    updateMs: number;
    updateCpuMs: number;
    /** Every process of the update, detached ones included (the cgroup), less this runner's own CPU. */
    allCpuMs?: number;
    load: number;
    /** CPUs the update could use: 1 = taskset -c 0. */
    cpus: number;
    hooks: Record<string, number>;
    hooksCpu: Record<string, number>;
  }[] = [];
  group = cpuGroup();
  for (let i = 0; i < 2 * ROUNDS; i++) {
    const cpus = i % 2 === 0 ? os.availableParallelism() : 1;
    // The same-name update (same package name and ABI, files overwritten in place), built before
    // the clock starts: only dpkg -i is timed.
    const deb = await buildKernelUpdate(i + 1);
    fs.rmSync(c.host(TIMES), { force: true });
    const inside = `/tmp/${deb.slice(deb.lastIndexOf('/') + 1)}`;
    fs.copyFileSync(deb, c.host(inside));
    const load = os.loadavg()[0]!;
    const cpu0 = group?.cpuMs();
    const self0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    // `times` must run in this shell, not in a pipeline's or $(…)'s subshell, whose children are none.
    const r = await c.run(`${cpus === 1 ? 'taskset -c 0 ' : ''}dpkg --force-confdef --force-confold -i ${inside}; rc=$?; times >/var/tmp/dpkg-cpu; tail -n 1 /var/tmp/dpkg-cpu >&2; exit $rc`);
    const updateMs = Number((process.hrtime.bigint() - t0) / 1_000_000n);
    const self = process.cpuUsage(self0);
    const allCpuMs = group && cpu0 !== undefined ? Math.round(group.cpuMs() - cpu0 - (self.user + self.system) / 1000) : undefined;
    expect(r.code, r.stderr).toBe(0);
    expect(processesIn(c.host('/')), 'processes outlived the update').toEqual([]);
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
    rounds.push({ updateMs, updateCpuMs, ...(allCpuMs !== undefined ? { allCpuMs } : {}), load, cpus, hooks, hooksCpu });
  }
  fs.mkdirSync(OUT.replace(/\/[^/]*$/, ''), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify({ kernel: c.kernel.version, rounds }, null, 2)}\n`);
});
