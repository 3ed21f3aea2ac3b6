// The ops in process on temp roots (no built executable): each job's outcome value and what it did
// to /boot and the manifest.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, parseConfig, type Config } from '../../src/core/model/config';
import { RefusedError, UsageError } from '../../src/core/model/errors';
import { adopt } from '../../src/core/ops/adopt';
import { backupBeforeUpdate, keepPreviousInitrd, snapshot } from '../../src/core/ops/backup';
import { listSets } from '../../src/core/ops/list';
import { afterKernelRemoval, prune } from '../../src/core/ops/prune';
import { decideRestore, restore } from '../../src/core/ops/restore';
import { withLock } from '../../src/core/ops/state';
import { bytes, fakeInitrd, installKernel, makeRoot, V, type TempRoot } from '../helpers/root';
import { testWorld } from '../helpers/world';

let root: TempRoot;
afterEach(() => root?.cleanup());

const config = (text = ''): Config => (text ? parseConfig(text, '/etc/default/kbackup') : { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] });
const backups = () => root.ls().filter((n) => n.includes('~~backup'));
const manifest = () => JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/manifest.json'), 'utf8')) as { sets: { id: string; origin: string; packageVersion?: string }[] };

describe('backup ops', () => {
  it('preinst makes one set at the world clock and records the package version dpkg passed', async () => {
    root = makeRoot();
    installKernel(root);
    const world = testWorld(root.dir, { env: { DEB_MAINT_PARAMS: 'upgrade 6.1.76-1' } });
    const plan = await backupBeforeUpdate(world, config(), V);
    expect(plan?.id).toBe(`${V}~~backup202611222040`);
    expect(backups()).toEqual([
      `System.map-${V}~~backup202611222040`,
      `config-${V}~~backup202611222040`,
      `initrd.img-${V}~~backup202611222040`,
      `kernel-${V}~~backup202611222040`,
    ]);
    expect(manifest().sets).toMatchObject([{ id: plan!.id, origin: 'preinst', packageVersion: '6.1.76-1' }]);
    expect(root.sha(`boot/initrd.img-${V}~~backup202611222040`)).toBe(root.sha(`boot/initrd.img-${V}`));
  });

  it('preinst is a no-op without live files, with ENABLED=no, and for an identical set', async () => {
    root = makeRoot();
    const world = testWorld(root.dir);
    expect((await backupBeforeUpdate(world, config(), V))?.skip?.reason).toBe('nothing-to-back-up');
    installKernel(root);
    expect(await backupBeforeUpdate(world, config('ENABLED=no\n'), V)).toBeUndefined();
    expect(backups()).toEqual([]);
    await backupBeforeUpdate(world, config(), V);
    world.setNow('2026-11-23T08:00:00Z');
    expect((await backupBeforeUpdate(world, config(), V))?.skip?.reason).toBe('identical');
    expect(backups()).toHaveLength(4);
  });

  it('snapshot --dry-run plans and touches nothing; an unknown kernel is a usage error', async () => {
    root = makeRoot();
    installKernel(root);
    const world = testWorld(root.dir);
    const plan = await snapshot(world, config(), V, true);
    expect(plan.copies.map((c) => c.to)).toContain(`kernel-${V}~~backup202611222040`);
    expect(backups()).toEqual([]);
    expect(fs.existsSync(root.file('var/lib/kbackup/manifest.json'))).toBe(false);
    await expect(snapshot(world, config(), '6.1.0-99-amd64', false)).rejects.toThrow(UsageError);
    await expect(snapshot(world, config(), '../etc', false)).rejects.toThrow(/refusing kernel version/);
  });

  it('a second set in the same minute gets .2, and KEEP prunes whole sets after the new one', async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    const world = testWorld(root.dir);
    await backupBeforeUpdate(world, config('KEEP=2\n'), V);
    installKernel(root, V, 2);
    expect((await backupBeforeUpdate(world, config('KEEP=2\n'), V))?.id).toBe(`${V}~~backup202611222040.2`);
    installKernel(root, V, 3);
    world.setNow('2026-11-23T08:00:00Z');
    const third = await backupBeforeUpdate(world, config('KEEP=2\n'), V);
    expect(third?.deletes.map((d) => [d.id, d.why, d.phase])).toEqual([[`${V}~~backup202611222040`, 'keep', 'after']]);
    expect(manifest().sets.map((s) => s.id)).toEqual([`${V}~~backup202611222040.2`, `${V}~~backup202611230800`]);
  });

  it('initramfs keeps INITRD.dpkg-bak with the live kernel, and says why when it keeps nothing', async () => {
    root = makeRoot();
    installKernel(root);
    const world = testWorld(root.dir);
    const initrd = `/boot/initrd.img-${V}`;
    // No .dpkg-bak (dracut never keeps one): nothing to keep, but the new image is still judged…
    const created = await keepPreviousInitrd(world, config(), V, initrd);
    expect(created).toMatchObject({ kept: false, why: `no initrd.img-${V}.dpkg-bak: nothing to keep` });
    // (an uncompressed image is read in-process: no program is needed)
    expect(created.health?.live).toMatchObject({ tool: 'kbackup', entries: 3, compression: 'none' });
    // …except inside a kernel package's maintainer script, where the postinst hook judges it next.
    const inUpdate = testWorld(root.dir, { env: { DPKG_MAINTSCRIPT_PACKAGE: `linux-image-${V}` } });
    expect(await keepPreviousInitrd(inUpdate, config(), V, initrd)).toEqual({ kept: false, why: `no initrd.img-${V}.dpkg-bak: nothing to keep` });
    root.write(`boot/initrd.img-${V}.dpkg-bak`, fakeInitrd(1000, 77), 0o600);
    const outcome = await keepPreviousInitrd(world, config(), V, initrd);
    expect(outcome.kept).toBe(true);
    if (!outcome.kept) return;
    expect(outcome.plan.id).toBe(`${V}~~backup202611222040`);
    expect(root.sha(`boot/initrd.img-${V}~~backup202611222040`)).toBe(root.sha(`boot/initrd.img-${V}.dpkg-bak`));
    expect(root.sha(`boot/kernel-${V}~~backup202611222040`)).toBe(root.sha(`boot/vmlinuz-${V}`));
    // Judged against the set just kept: its conf/initramfs.conf differs.
    expect(outcome.health?.previousId).toBe(`${V}~~backup202611222040`);
    expect(outcome.health?.problems.map((p) => p.code)).toEqual(['initrd-config-changed']);
    expect(manifest().sets[0]!.origin).toBe('initramfs');
    expect((await keepPreviousInitrd(world, config(), V, '/tmp/initrd.img-x')).kept).toBe(false);
  });
});

describe('prune, postrm and adopt ops', () => {
  function fakeSet(stamp: string, version = V): string {
    for (const stem of ['kernel', 'initrd.img']) root.write(`boot/${stem}-${version}~~backup${stamp}`, bytes(500, stamp.length + stem.length));
    return `${version}~~backup${stamp}`;
  }

  it('prune plans in --dry-run, deletes for real, and refuses a bad --keep', async () => {
    root = makeRoot();
    installKernel(root);
    const ids = ['202601010000', '202602010000', '202603010000'].map((s) => fakeSet(s));
    const world = testWorld(root.dir);
    const dry = await prune(world, config(), { keep: 1, dryRun: true });
    expect(dry.deletes.map((d) => d.id)).toEqual([ids[1], ids[0]]);
    expect(backups()).toHaveLength(6);
    await prune(world, config(), { keep: 1, dryRun: false });
    expect(backups()).toEqual([`initrd.img-${ids[2]}`, `kernel-${ids[2]}`]);
    await expect(prune(world, config(), { keep: 100, dryRun: false })).rejects.toThrow(/--keep takes a whole number from 0 to 99/);
  });

  it('postrm: nothing on upgrade, a warning outcome on remove, deletion on purge with ON_PURGE=remove', async () => {
    root = makeRoot();
    installKernel(root, '6.1.0-17-amd64');
    const id = fakeSet('202601010000');
    const on = (action: string) => testWorld(root.dir, { env: { DEB_MAINT_PARAMS: action } });
    expect(await afterKernelRemoval(on('upgrade 6.1.76-1'), config(), V)).toEqual({ kind: 'nothing' });
    expect(await afterKernelRemoval(on('remove'), config(), V)).toEqual({ kind: 'backup-would-be-default', first: `/boot/kernel-${id}` });
    const purged = await afterKernelRemoval(on('purge'), config('ON_PURGE=remove\n'), V);
    expect(purged.kind === 'removed' && purged.deletes.map((d) => [d.id, d.why])).toEqual([[id, 'purge']]);
    expect(backups()).toEqual([]);
  });

  it('adopt renames legacy sets and records them; --dry-run only plans', async () => {
    root = makeRoot();
    installKernel(root);
    root.write(`boot/vmlinuz-${V}~~backup202601010000`, bytes(500, 1));
    root.write(`boot/initrd.img-${V}~~backup202601010000`, bytes(500, 2));
    const world = testWorld(root.dir);
    const dry = await adopt(world, config(), true);
    expect(dry.renames.map((r) => r.to)).toEqual([`kernel-${V}~~backup202601010000`]);
    expect(root.ls()).toContain(`vmlinuz-${V}~~backup202601010000`);
    await adopt(world, config(), false);
    expect(backups()).toEqual([`initrd.img-${V}~~backup202601010000`, `kernel-${V}~~backup202601010000`]);
    expect(manifest().sets).toMatchObject([{ id: `${V}~~backup202601010000`, origin: 'adopt' }]);
    const { sets } = await listSets(world, config());
    expect(sets).toMatchObject([{ id: `${V}~~backup202601010000`, complete: true, legacy: false, verified: true }]);
  });
});

describe('restore op', () => {
  it('backs up the live files first, puts the exact bytes back, and names the undo set', async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    const world = testWorld(root.dir);
    const old = (await backupBeforeUpdate(world, config(), V))!.id!;
    const oldInitrd = root.sha(`boot/initrd.img-${V}`);
    installKernel(root, V, 2);
    world.setNow('2026-11-23T08:00:00Z');
    const decision = await decideRestore(world, config(), old);
    expect(decision.refusal).toBeUndefined();
    expect(decision.live.id).toBe(`${V}~~backup202611230800`);
    const seen: string[] = [];
    const outcome = await restore(world, config(), old, {}, { backedUp: (p) => seen.push(`backup ${p.id}`), restored: (c) => seen.push(c.to) });
    expect(outcome).toMatchObject({ undoId: `${V}~~backup202611230800`, updateGrub: { ran: false, why: 'not-wanted' } });
    expect(seen[0]).toBe(`backup ${V}~~backup202611230800`);
    expect(seen).toContain(`vmlinuz-${V}`);
    expect(root.sha(`boot/initrd.img-${V}`)).toBe(oldInitrd);
  });

  it('refuses a set whose files no longer match the manifest, and an unknown ID with the nearest ones', async () => {
    root = makeRoot();
    installKernel(root);
    const world = testWorld(root.dir);
    const id = (await backupBeforeUpdate(world, config(), V))!.id!;
    fs.appendFileSync(root.file(`boot/initrd.img-${id}`), 'rot');
    expect((await decideRestore(world, config(), id)).refusal).toMatch(`initrd.img-${id} no longer matches its recorded sha256`);
    await expect(restore(world, config(), id, {}, { backedUp: () => undefined, restored: () => undefined })).rejects.toThrow(RefusedError);
    await expect(decideRestore(world, config(), `${V}~~backup202611222041`)).rejects.toThrow(`nearest: ${id}`);
  });
});

describe('lock', () => {
  it('a second run waits until the world clock passes its deadline, then says who holds the lock', { timeout: 20_000 }, async () => {
    root = makeRoot();
    let t = Date.parse('2026-11-22T20:40:00Z');
    // Every look at the clock moves it a minute: a ten-minute wait ends after a few polls, so the
    // wait is measured on the world's clock (the real one would outlast the test's timeout).
    const world = { ...testWorld(root.dir), now: () => new Date((t += 60_000)) };
    await withLock(world, 'first', 1000, async () => {
      await expect(withLock(world, 'second', 600_000, async () => 'ran')).rejects.toThrow(/another kbackup \(pid \d+, "first", since 2026-11-22T20:4\d/);
    });
    expect(await withLock(world, 'third', 1000, async () => 'ran')).toBe('ran');
  });
});
