// boot-record and the initramfs hook's arming, in process with a test world: the dracut copy of the
// known-good, and a trial armed after `update-initramfs -u` (update-grub played by the test's exec).
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/commands/context';
import { runHook } from '../../src/commands/hook';
import { DEFAULT_CONFIG, type Config } from '../../src/core/model/config';
import { recordBoot } from '../../src/core/ops/boot-record';
import { listSets } from '../../src/core/ops/list';
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
    root.write('usr/sbin/mkinitramfs', '#!/bin/sh\n', 0o755);
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
      kbackup_trial_args: 'panic=10',
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
