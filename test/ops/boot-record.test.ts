// boot-record and the initramfs hook's arming, in process with a test world: the dracut copy of the
// known-good, and a trial armed after `update-initramfs -u` (update-grub played by the test's exec).
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/commands/context';
import { runHook } from '../../src/commands/hook';
import { DEFAULT_CONFIG, type Config } from '../../src/core/model/config';
import { backupBeforeUpdate } from '../../src/core/ops/backup';
import { readInitrdContext } from '../../src/core/ops/initrd';
import { readState } from '../../src/core/ops/state';
import { recordBoot } from '../../src/core/ops/boot-record';
import { listSets } from '../../src/core/ops/list';
import { armTrial, trialStatus } from '../../src/core/ops/trial';
import { prune } from '../../src/core/ops/prune';
import { fakeInitrd, installKernel, makeRoot, V, type TempRoot } from '../helpers/root';
import { backup, booted, editenv, env, grubCfg, live, UUID } from '../helpers/trial';
import { testWorld } from '../helpers/world';

let root: TempRoot;
afterEach(() => root?.cleanup());

const config = (over: Partial<Config> = {}): Config => ({ ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files], ...over });

describe('boot-record on a dracut system', () => {
  it('keeps one copy of the set that booted (dracut -f would replace it unseen), never twice, and no prune removes it', async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    root.write('usr/bin/dracut', '#!/bin/sh\n', 0o755);
    booted(root, `vmlinuz-${V}`, V, 'b1');
    const world = testWorld(root.dir);
    const first = await recordBoot(world, config());
    expect(first.kept?.id).toBe(`${V}~~backup202611222040`);
    const [set] = (await listSets(world, config())).sets;
    expect(set).toMatchObject({ id: first.kept!.id, knownGood: true, origin: 'known-good' });
    expect(root.sha(`boot/initrd.img-${first.kept!.id}`)).toBe(root.sha(`boot/initrd.img-${V}`));
    // The next boot of the same files: the copy exists, nothing is copied again.
    booted(root, `vmlinuz-${V}`, V, 'b2');
    world.setNow('2026-11-23T08:00:00Z');
    expect((await recordBoot(world, config())).kept).toBeUndefined();
    expect((await listSets(world, config())).sets).toHaveLength(1);
    // dracut -f rebuilds the live initrd; the known-good's copy stays whatever KEEP says.
    root.write(`boot/initrd.img-${V}`, fakeInitrd(300_000, 77), 0o600);
    expect((await prune(world, config(), { keep: 0, dryRun: false })).deletes).toEqual([]);
    expect(root.ls()).toContain(`initrd.img-${first.kept!.id}`);
  });

  it('makes no copy on an initramfs-tools system: the hooks keep the previous files when they are replaced', async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    root.write('usr/sbin/update-initramfs', '#!/bin/sh\n', 0o755);
    root.write('usr/bin/dracut', '#!/bin/sh\n', 0o755);
    booted(root, `vmlinuz-${V}`, V, 'b1');
    const outcome = await recordBoot(testWorld(root.dir), config());
    expect(outcome.kept).toBeUndefined();
    expect(root.ls().filter((n) => n.includes('~~backup'))).toEqual([]);
  });
});

describe('the initramfs hook arms a trial after update-initramfs -u', () => {
  function machine(): { world: ReturnType<typeof testWorld>; calls: string[][] } {
    root = makeRoot();
    root.config('TRIAL_BOOT=yes\n');
    installKernel(root, V, 1);
    root.write('usr/sbin/update-grub', '#!/bin/sh\n', 0o755);
    grubCfg(root, [live(V)]);
    editenv(root, 'create');
    booted(root, `vmlinuz-${V}`, V, 'b1');
    const calls: string[][] = [];
    const world = testWorld(root.dir, {
      // update-grub in the chroot: grub.cfg then lists the live kernel and every backup set.
      exec: async (file, args) => {
        calls.push([file, ...args]);
        if (file === 'chroot' && args[1] === '/usr/sbin/update-grub') {
          const sets = root.ls().filter((n) => n.startsWith('kernel-')).map((n) => n.slice('kernel-'.length));
          grubCfg(root, [live(V), ...sets.map(backup)]);
          return { code: 0, stdout: '', stderr: '' };
        }
        return { code: 127, stdout: '', stderr: `${file}: ENOENT` };
      },
    });
    return { world, calls };
  }

  /** update-initramfs -u: the old image as .dpkg-bak, a new one in place, then the post-update hook. */
  async function rebuild(world: ReturnType<typeof testWorld>, env: Record<string, string> = {}) {
    fs.copyFileSync(root.file(`boot/initrd.img-${V}`), root.file(`boot/initrd.img-${V}.dpkg-bak`));
    root.write(`boot/initrd.img-${V}`, fakeInitrd(260_000, 42), 0o600);
    const ctx = makeContext({ ...world, env }, { out: () => undefined, interactive: false, ask: async () => '' });
    return runHook(ctx, 'initramfs', V, `/boot/initrd.img-${V}`);
  }

  it('keeps the previous initrd, runs update-grub so it is in the menu, and arms the rebuilt one against it', async () => {
    const { world, calls } = machine();
    await recordBoot(world, config({ trialBoot: true }));
    world.setNow('2026-11-23T09:00:00Z');
    expect(await rebuild(world)).toBe(0);
    expect(calls).toContainEqual(['chroot', root.dir, '/usr/sbin/update-grub']);
    const id = `${V}~~backup202611230900`;
    expect(root.ls()).toContain(`kernel-${id}`);
    expect(env(root)).toEqual({
      kbackup_trial: 'armed',
      kbackup_trial_entry: `gnulinux-advanced-${UUID}>gnulinux-${V}-advanced-${UUID}`,
      kbackup_good_entry: `gnulinux-advanced-${UUID}>gnulinux-${id}-advanced-${UUID}`,
      kbackup_trial_args: 'panic=10 kbackup.trial=600',
    });
  });

  it('inside a kernel package’s postinst it leaves arming to the postinst hook (update-grub runs after it)', async () => {
    const { world, calls } = machine();
    await recordBoot(world, config({ trialBoot: true }));
    expect(await rebuild(world, { DPKG_MAINTSCRIPT_PACKAGE: `linux-image-${V}` })).toBe(0);
    expect(calls.filter((c) => c[0] === 'chroot')).toEqual([]);
    expect(env(root)).toEqual({});
  });
});

describe('the known-good initrd, as the initrd check reads it', () => {
  it('is the live file while it is the one that booted, and its backup copy once the live one was replaced', async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    booted(root, `vmlinuz-${V}`, V, 'b1');
    const world = testWorld(root.dir);
    await recordBoot(world, config());
    const kg = async () => {
      const state = await readState(world, config());
      return (await readInitrdContext(world, [], state.model, state.manifest)).knownGood;
    };
    expect((await kg()).initrd?.path).toBe(root.file(`boot/initrd.img-${V}`));
    // A same-name update: the preinst hook keeps the files, then dpkg replaces them.
    world.setNow('2026-11-23T10:00:00Z');
    const id = (await backupBeforeUpdate(world, config(), V))!.id!;
    await new Promise((r) => setTimeout(r, 20));
    root.write(`boot/initrd.img-${V}`, fakeInitrd(280_000, 99), 0o600);
    expect((await kg()).initrd?.path).toBe(root.file(`boot/initrd.img-${id}`));
    // With no copy anywhere, there is no known-good initrd to judge against (rather than the new file itself).
    fs.rmSync(root.file(`boot/initrd.img-${id}`));
    fs.rmSync(root.file('var/lib/kbackup/manifest.json'));
    expect(await kg()).toEqual({ recorded: true });
  });
});

describe('the verdict: a boot judged against the known-good', () => {
  const V2 = '6.1.0-19-amd64';
  const MAC = '52:54:00:12:34:56';
  /** `ip -j addr show` of a machine whose enp1s0 has 10.0.2.15/24, or none. */
  const ipJson = (address: boolean) =>
    JSON.stringify([
      { ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
      { ifname: 'enp1s0', link_type: 'ether', address: MAC, addr_info: address ? [{ family: 'inet', local: '10.0.2.15', prefixlen: 24, scope: 'global' }] : [] },
    ]);

  function machine(): { world: ReturnType<typeof testWorld>; net: { up: boolean; sleeps: number }; calls: string[][] } {
    root = makeRoot();
    root.config('TRIAL_BOOT=yes\n');
    installKernel(root, V, 1);
    grubCfg(root, [live(V)]);
    editenv(root, 'create');
    root.write('etc/fstab', 'UUID=1 / ext4 defaults 0 1\nUUID=2 /boot ext4 defaults 0 2\n');
    root.write('proc/self/mountinfo', '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n23 22 8:2 / /boot rw - ext4 /dev/sda2 rw\n');
    root.write('proc/net/route', 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nenp1s0\t00000000\t0202000A\t0003\t0\t0\t100\t00000000\n');
    const net = { up: true, sleeps: 0 };
    const calls: string[][] = [];
    const world = testWorld(root.dir, {
      exec: async (file, args) => {
        calls.push([file, ...args]);
        if (file === 'ip') return { code: 0, stdout: ipJson(net.up), stderr: '' };
        if (file === 'systemctl' && args[0] === 'list-units') return { code: 0, stdout: '  ssh.service loaded active running OpenBSD Secure Shell server\n', stderr: '' };
        if (file === 'systemctl' && args[0] === 'show') return { code: 0, stdout: '\n', stderr: '' };
        if (file === 'systemctl' && args.includes('reboot')) return { code: 0, stdout: '', stderr: '' };
        return { code: 127, stdout: '', stderr: `${file}: ENOENT` };
      },
    });
    return { world, net, calls };
  }
  const opts = (world: ReturnType<typeof testWorld>, net: { sleeps: number }) => ({
    networkWaitSeconds: 9,
    networkPollSeconds: 3,
    reboot: true,
    sleep: async (ms: number) => {
      net.sleeps++;
      world.setNow(new Date(world.now().getTime() + ms).toISOString());
    },
  });
  const boots = () => JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/boots.json'), 'utf8')) as { bootId: string; health?: unknown; verdict?: { good: boolean; problems: string[] } }[];

  it('records what the good boot had, and a trial that lost its network fails, is rebooted once, and says which interface', async () => {
    const { world, net, calls } = machine();
    booted(root, `vmlinuz-${V}`, V, 'b1');
    const first = await recordBoot(world, config({ trialBoot: true }), opts(world, net));
    expect(first.verdict).toEqual({ good: true, problems: [] });
    expect(boots()[0]!.health).toEqual({
      interfaces: [{ name: 'enp1s0', mac: MAC, addresses: ['10.0.2.15/24'], defaultRoute: true }],
      mounts: ['/', '/boot'],
      units: ['ssh.service'],
    });
    // The new kernel is armed, GRUB starts it, and it comes up with its NIC unaddressed.
    installKernel(root, V2, 2);
    grubCfg(root, [live(V2), live(V)]);
    world.setNow('2026-11-23T09:00:00Z');
    expect((await armTrial(world, config({ trialBoot: true }), { hook: true })).armed).toBe(true);
    editenv(root, 'set', 'kbackup_trial=booting');
    booted(root, `vmlinuz-${V2}`, V2, 'b2');
    net.up = false;
    root.write('proc/net/route', 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n');
    const trial = await recordBoot(world, config({ trialBoot: true }), opts(world, net));
    // It waited up to the bound for DHCP, then judged.
    expect(net.sleeps).toBe(3);
    expect(trial.verdict.good).toBe(false);
    expect(trial.verdict.problems[0]).toBe(`enp1s0 had 10.0.2.15/24 on the known-good boot (${V}); it has no address now`);
    expect(env(root).kbackup_trial).toBe('failed');
    expect(calls).toContainEqual(['systemctl', '--no-block', 'reboot']);
    expect(trial.reboot).toEqual({ code: 0, stderr: '' });
    // Never the known-good: GRUB's fallback, and the initrd baseline, stay the good boot.
    const status = await trialStatus(world, config({ trialBoot: true }));
    expect(status.knownGood?.bootId).toBe('b1');
    expect(status.sentence).toContain(`its verdict: enp1s0 had 10.0.2.15/24 on the known-good boot (${V}); it has no address now`);
    expect(status.sentence).toContain('kbackup trial retry');
    expect(status.sentence).toContain('kbackup trial accept');
    // GRUB then starts the known-good: its record is a fallback, healthy, and nothing reboots it.
    booted(root, `vmlinuz-${V}`, V, 'b3');
    net.up = true;
    root.write('proc/net/route', 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nenp1s0\t00000000\t0202000A\t0003\t0\t0\t100\t00000000\n');
    calls.length = 0;
    const back = await recordBoot(world, config({ trialBoot: true }), opts(world, net));
    expect(back.verdict.good).toBe(true);
    expect(back.record.trial).toBe('fallback');
    expect(back.reboot).toBeUndefined();
    expect(calls.filter((c) => c.includes('reboot'))).toEqual([]);
  });

  it('a boot that is not a trial and fails its verdict is not the known-good and is never rebooted (TRIAL_BOOT=no too)', async () => {
    const { world, net, calls } = machine();
    root.config('TRIAL_BOOT=no\n');
    booted(root, `vmlinuz-${V}`, V, 'b1');
    await recordBoot(world, config(), opts(world, net));
    installKernel(root, V2, 2);
    booted(root, `vmlinuz-${V2}`, V2, 'b2');
    world.setNow('2026-11-23T09:00:00Z');
    // /boot is in fstab but this kernel did not mount it.
    root.write('proc/self/mountinfo', '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n');
    const bad = await recordBoot(world, config(), opts(world, net));
    expect(bad.verdict.problems).toEqual([`/boot (from /etc/fstab) was mounted on the known-good boot (${V}); it is not mounted now`]);
    expect(bad.reboot).toBeUndefined();
    expect(calls.filter((c) => c.includes('reboot'))).toEqual([]);
    expect(boots().map((b) => [b.bootId, b.verdict?.good])).toEqual([
      ['b1', true],
      ['b2', false],
    ]);
    const status = await trialStatus(world, config());
    expect(status.knownGood?.bootId).toBe('b1');
    expect(status.unhealthy?.sentence).toMatch(/^the boot of \/boot\/vmlinuz-6\.1\.0-19-amd64 .* less healthy than the known-good: \/boot \(from \/etc\/fstab\) was mounted/);
    // The next healthy boot is the known-good again.
    root.write('proc/self/mountinfo', '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n23 22 8:2 / /boot rw - ext4 /dev/sda2 rw\n');
    booted(root, `vmlinuz-${V2}`, V2, 'b3');
    world.setNow('2026-11-23T10:00:00Z');
    expect((await recordBoot(world, config(), opts(world, net))).verdict.good).toBe(true);
    expect((await trialStatus(world, config())).knownGood?.bootId).toBe('b3');
  });
});
