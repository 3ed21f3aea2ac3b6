// Issue 15: the ways a run could lose the last copy of a kernel or the known-good, each first shown
// on a throw-away root in process (the test world: a clock, a log, no programs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type Config } from '../../src/core/model/config';
import { backupBeforeUpdate, snapshot } from '../../src/core/ops/backup';
import { recordBoot } from '../../src/core/ops/boot-record';
import { check } from '../../src/core/ops/check';
import { prune } from '../../src/core/ops/prune';
import { restore } from '../../src/core/ops/restore';
import { readState } from '../../src/core/ops/state';
import { bytes, installKernel, makeRoot, V, type TempRoot } from '../helpers/root';
import { booted } from '../helpers/trial';
import { testWorld } from '../helpers/world';

let root: TempRoot;
afterEach(() => root?.cleanup());

const config = (over: Partial<Config> = {}): Config => ({ ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files], ...over });
const backups = () => root.ls().filter((n) => n.startsWith('kernel-'));
const noEvents = { backedUp: () => undefined, restored: () => undefined };

describe('the set identical to the live files is their backup', () => {
  it('KEEP=1: restore the older of two sets, then a kernel update: a copy of the files being replaced is still there afterwards, and "To undo" names a set that exists', async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    const world = testWorld(root.dir, { now: '2026-11-01T10:00:00Z' });
    const older = (await snapshot(world, config({ keep: 2 }), V, false)).id!;
    // The live files change (a same-name update), and a second set is made.
    installKernel(root, V, 2);
    world.setNow('2026-11-02T10:00:00Z');
    const newer = (await snapshot(world, config({ keep: 2 }), V, false)).id!;
    installKernel(root, V, 3);
    world.setNow('2026-11-03T10:00:00Z');
    // Restore the older set with KEEP=1: the live files (seed 3) are backed up first.
    const restored = await restore(world, config({ keep: 1 }), older, { updateGrub: false }, noEvents);
    expect(restored.undoId).toBeDefined();
    expect(backups()).toContain(`kernel-${restored.undoId}`);
    expect(backups()).toContain(`kernel-${older}`);
    // The live files now equal `older`; the preinst hook before the next update relies on it.
    world.setNow('2026-11-04T10:00:00Z');
    const plan = (await backupBeforeUpdate(world, config({ keep: 1 }), V))!;
    expect(plan.skip?.reason).toBe('identical');
    expect(plan.sameAs).toBe(older);
    expect(backups()).toContain(`kernel-${older}`);
    expect(root.sha(`boot/kernel-${older}`)).toBe(root.sha(`boot/vmlinuz-${V}`));
    void newer;
  });
});

describe('a damaged boots.json', () => {
  function knownGoodOnDisk(): { world: ReturnType<typeof testWorld>; goodSet: string } {
    root = makeRoot();
    installKernel(root, V, 1);
    const world = testWorld(root.dir, { now: '2026-11-01T10:00:00Z' });
    booted(root, `vmlinuz-${V}`, V, 'b1');
    return { world, goodSet: '' };
  }

  it('is kept aside by the next boot record, reported by check, and nothing that might be the known-good is pruned until it is removed', async () => {
    const { world } = knownGoodOnDisk();
    await recordBoot(world, config(), { reboot: false });
    // The known-good's files are replaced (same-name update): the preinst keeps them.
    world.setNow('2026-11-02T10:00:00Z');
    const kept = (await backupBeforeUpdate(world, config({ keep: 1 }), V))!.id!;
    installKernel(root, V, 2);
    expect((await readState(world, config())).knownGoodIds).toEqual([kept]);
    // boots.json is truncated (a power cut, a full /var).
    const bootsFile = path.join(root.dir, 'var/lib/kbackup/boots.json');
    fs.writeFileSync(bootsFile, fs.readFileSync(bootsFile, 'utf8').slice(0, 40));
    const report = await check(world, config());
    expect(report.problems.map((p) => p.code)).toContain('boots-unreadable');
    // Two more updates with KEEP=1: the known-good's set is still there.
    for (const [i, day] of [['3', '03'], ['4', '04']] as const) {
      world.setNow(`2026-11-${day}T10:00:00Z`);
      await backupBeforeUpdate(world, config({ keep: 1 }), V);
      installKernel(root, V, Number(i));
    }
    expect(backups()).toContain(`kernel-${kept}`);
    // The next boot record does not overwrite it: it is kept aside, and still nothing is pruned.
    booted(root, `vmlinuz-${V}`, V, 'b2');
    const damaged = fs.readFileSync(bootsFile);
    const outcome = await recordBoot(world, config(), { reboot: false });
    void outcome;
    const aside = fs.readdirSync(path.dirname(bootsFile)).filter((n) => n.startsWith('boots.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(fs.readFileSync(path.join(path.dirname(bootsFile), aside[0]!))).toEqual(damaged);
    expect(world.logs.join('\n')).toMatch(/boots\.json was unreadable .* kept it as .*boots\.json\.corrupt-/);
    expect((await prune(world, config(), { keep: 0, dryRun: false, confirm: async () => undefined })).deletes).toEqual([]);
    expect(backups()).toContain(`kernel-${kept}`);
    expect((await check(world, config())).problems.map((p) => p.code)).toContain('boots-unreadable');
    // Once the admin has looked at it and removed it, pruning works again.
    fs.rmSync(path.join(path.dirname(bootsFile), aside[0]!));
    expect((await check(world, config())).problems.map((p) => p.code)).not.toContain('boots-unreadable');
  });

  it('records this version does not understand (a newer kbackup) are kept by boot-record, and the sets they name are not pruned', async () => {
    const { world } = knownGoodOnDisk();
    await recordBoot(world, config(), { reboot: false });
    world.setNow('2026-11-02T10:00:00Z');
    const kept = (await backupBeforeUpdate(world, config({ keep: 2 }), V))!.id!;
    const keptSha = root.sha(`boot/kernel-${kept}`);
    installKernel(root, V, 2);
    const bootsFile = path.join(root.dir, 'var/lib/kbackup/boots.json');
    const records = JSON.parse(fs.readFileSync(bootsFile, 'utf8')) as Record<string, unknown>[];
    // A record from the future: a trial mark this version does not know, naming the kept set's kernel.
    const foreign = { ...records[0], bootId: 'future', trial: 'canary', imageSha256: keptSha, extra: { x: 1 } };
    // …and the understood record now names other bytes, so only the foreign one points at `kept`.
    fs.writeFileSync(bootsFile, JSON.stringify([{ ...records[0], imageSha256: 'f'.repeat(64) }, foreign]));
    expect((await readState(world, config())).knownGoodIds).toContain(kept);
    booted(root, `vmlinuz-${V}`, V, 'b3');
    world.setNow('2026-11-03T10:00:00Z');
    await recordBoot(world, config(), { reboot: false });
    const after = JSON.parse(fs.readFileSync(bootsFile, 'utf8')) as Record<string, unknown>[];
    expect(after).toContainEqual(foreign);
    expect(after.at(-1)).toMatchObject({ bootId: 'b3' });
    expect((await prune(world, config(), { keep: 0, dryRun: false, confirm: async () => undefined })).deletes.map((d) => d.id)).not.toContain(kept);
  });
});

describe('space is counted in blocks, and the last set of the version is never deleted for room', () => {
  it('a /boot too full for the copy keeps its only set (deleting it would not be enough, and would leave no copy), and says there is no room', async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    const world = testWorld(root.dir, { now: '2026-11-01T10:00:00Z' });
    const only = (await snapshot(world, config(), V, false)).id!;
    installKernel(root, V, 2);
    // Whatever the free space really is here, the set may not go: ask planBackup through the hook
    // with a reserve that cannot be met by deleting anything but the only set.
    const statfs = fs.statfsSync(path.join(root.dir, 'boot'));
    const free = statfs.bavail * statfs.bsize;
    const reserveMb = Math.ceil(free / (1024 * 1024));
    world.setNow('2026-11-02T10:00:00Z');
    const plan = (await backupBeforeUpdate(world, config({ minFreeMb: reserveMb }), V))!;
    expect(plan.skip?.reason).toBe('no-space');
    expect(plan.deletes).toEqual([]);
    expect(backups()).toEqual([`kernel-${only}`]);
  });
});

describe('KEEP=0 with a known-good', () => {
  it("the known-good's live files are copied before a same-name update replaces them, and nothing is deleted", async () => {
    root = makeRoot();
    installKernel(root, V, 1);
    const world = testWorld(root.dir, { now: '2026-11-01T10:00:00Z' });
    booted(root, `vmlinuz-${V}`, V, 'b1');
    await recordBoot(world, config(), { reboot: false });
    const plan = (await backupBeforeUpdate(world, config({ keep: 0, trialBoot: true }), V))!;
    expect(plan.skip).toBeUndefined();
    expect(backups()).toEqual([`kernel-${plan.id}`]);
    // A kernel that is not the known-good still gets no backup with KEEP=0.
    root.write(`boot/vmlinuz-6.1.0-99-amd64`, bytes(1000, 5));
    installKernel(root, '6.1.0-99-amd64', 5);
    expect((await backupBeforeUpdate(world, config({ keep: 0 }), '6.1.0-99-amd64'))!.skip?.reason).toBe('keep-zero');
  });
});

describe('a stale lock', () => {
  it.each([
    ['pid 1 (after a crash and a reboot), in the old format', { pid: 1, command: 'preinst 6.1.0-18-amd64', since: '2026-10-01T00:00:00.000Z', token: 'x' }],
    ['a live pid from another boot', { pid: process.pid, command: 'snapshot', since: '2026-10-01T00:00:00.000Z', token: 'y', bootId: 'another-boot' }],
    ['a live pid that was reused (another start time)', { pid: process.pid, command: 'snapshot', since: '2026-10-01T00:00:00.000Z', token: 'z', startTime: '1' }],
  ])('naming %s is taken over at once, with a warning that says so', async (_, lock) => {
    root = makeRoot();
    installKernel(root, V, 1);
    root.write('var/lib/kbackup/lock', `${JSON.stringify(lock)}\n`);
    const world = testWorld(root.dir);
    const started = Date.now();
    const plan = await snapshot(world, config(), V, false);
    expect(plan.id).toBeDefined();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(world.logs.join('\n')).toMatch(/took over .*lock: it names pid \d+ .*which is not a kbackup running in this boot/);
    expect(fs.existsSync(path.join(root.dir, 'var/lib/kbackup/lock'))).toBe(false);
  });
});
