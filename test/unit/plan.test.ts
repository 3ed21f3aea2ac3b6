// The planners, table-driven and in memory: no fs, no clock.
import { describe, expect, it } from 'vitest';
import { modelBoot } from '../../src/core/model/boot-model';
import { DEFAULT_CONFIG, type Config } from '../../src/core/model/config';
import { emptyManifest } from '../../src/core/model/manifest';
import { parseBootName } from '../../src/core/model/names';
import { backupSources, planAdopt, planBackup, planPrune, planPurge, planRestore } from '../../src/core/model/plan';
import type { BootFile, BootScan } from '../../src/core/model/boot-model';

const V = '6.1.0-18-amd64';
const MiB = 1024 * 1024;

function scanOf(files: Record<string, number>): BootScan {
  const list: BootFile[] = Object.entries(files).map(([name, size]) => ({
    name,
    type: 'file',
    size,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtimeMs: 0,
    parsed: parseBootName(name),
  }));
  return { bootDir: '/boot', files: list, temps: [] };
}

const live = (v = V) => ({ [`vmlinuz-${v}`]: 8 * MiB, [`initrd.img-${v}`]: 40 * MiB, [`config-${v}`]: 1000, [`System.map-${v}`]: 2000 });
const set = (stamp: string, v = V) => ({
  [`kernel-${v}~~backup${stamp}`]: 8 * MiB,
  [`initrd.img-${v}~~backup${stamp}`]: 40 * MiB,
  [`config-${v}~~backup${stamp}`]: 1000,
  [`System.map-${v}~~backup${stamp}`]: 2000,
});

function plan(
  files: Record<string, number>,
  opts: Partial<Config> & { free?: number; identical?: boolean | string; stamp?: string; protect?: string[]; blockSize?: number; liveIsKnownGood?: boolean } = {},
) {
  const model = modelBoot(scanOf(files));
  const config = { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files], ...opts };
  return planBackup({
    model,
    config,
    manifest: emptyManifest(),
    version: V,
    stamp: opts.stamp ?? '202611222040',
    sources: backupSources(model, config, V),
    freeBytes: opts.free ?? 1000 * MiB,
    identicalTo: typeof opts.identical === 'string' ? opts.identical : opts.identical ? 'identical-set' : undefined,
    protectedIds: opts.protect,
    blockSize: opts.blockSize,
    liveIsKnownGood: opts.liveIsKnownGood ?? false,
  });
}

// Issue 15: the ways a run could lose the last copy of the files it is about to replace.
describe('planBackup never loses the copy it relies on', () => {
  const older = `${V}~~backup202601010000`;
  const newer = `${V}~~backup202602010000`;

  it('the set identical to the live files (an older one, after a restore) is their backup: KEEP=1 prunes the other set, never it', () => {
    const p = plan({ ...live(), ...set('202601010000'), ...set('202602010000') }, { keep: 1, identical: older });
    expect(p.skip?.reason).toBe('identical');
    expect(p.sameAs).toBe(older);
    expect(p.deletes.map((d) => d.id)).toEqual([newer]);
    expect(plan({ ...live(), ...set('202601010000'), ...set('202602010000') }, { keep: 2, identical: older }).deletes).toEqual([]);
  });

  it('a copy that fits in bytes but not in blocks deletes nothing and is skipped; the last complete set of the version is never deleted to make room', () => {
    // The live files need 48 MiB + 3000 bytes; in 4 KiB blocks that is 48 MiB + 8 KiB.
    const needed = 8 * MiB + 40 * MiB + 3000;
    const p = plan({ ...live(), ...set('202601010000') }, { minFreeMb: 0, free: needed + 100, blockSize: 4096 });
    expect(p.skip?.reason).toBe('no-space');
    expect(p.deletes).toEqual([]);
    // Bytes alone would have said it fits.
    expect(plan({ ...live(), ...set('202601010000') }, { minFreeMb: 0, free: needed + 100 }).id).toBeDefined();
    // Only one set: it is not deleted "to make room", whatever the space.
    const tight = plan({ ...live(), ...set('202601010000') }, { minFreeMb: 0, free: 10 * MiB, blockSize: 4096 });
    expect(tight.skip?.reason).toBe('no-space');
    expect(tight.deletes).toEqual([]);
    // With two sets the older one may go for room, the newest complete one stays.
    const two = plan({ ...live(), ...set('202601010000'), ...set('202602010000') }, { minFreeMb: 0, free: 10 * MiB, blockSize: 4096 });
    expect(two.id).toBeDefined();
    expect(two.deletes.map((d) => [d.id, d.phase])).toEqual([[older, 'before']]);
  });

  it("KEEP=0 still copies the known-good's live files before they are replaced, and deletes nothing", () => {
    const p = plan({ ...live(), ...set('202601010000') }, { keep: 0, liveIsKnownGood: true });
    expect(p.skip).toBeUndefined();
    expect(p.id).toBeDefined();
    expect(p.deletes).toEqual([]);
    expect(plan({ ...live() }, { keep: 0 }).skip?.reason).toBe('keep-zero');
    expect(plan({ ...live() }, { keep: 0, liveIsKnownGood: true, identical: true }).skip?.reason).toBe('keep-zero');
  });
});

describe('planBackup', () => {
  it('copies the initrd first and the kernel image last, as kernel-V~~backup…', () => {
    const p = plan(live());
    expect(p.id).toBe(`${V}~~backup202611222040`);
    expect(p.copies.map((c) => c.to)).toEqual([
      `initrd.img-${V}~~backup202611222040`,
      `System.map-${V}~~backup202611222040`,
      `config-${V}~~backup202611222040`,
      `kernel-${V}~~backup202611222040`,
    ]);
    expect(p.deletes).toEqual([]);
  });

  it.each([
    ['nothing there', {}, 'nothing-to-back-up', false],
    ['a kernel without initrd', { [`vmlinuz-${V}`]: 1 }, 'incomplete-live-set', true],
    ['an initrd without kernel', { [`initrd.img-${V}`]: 1 }, 'incomplete-live-set', true],
  ] as const)('skips %s', (_, files, reason, warn) => {
    const p = plan(files);
    expect(p.skip?.reason).toBe(reason);
    expect(p.skip?.warn).toBe(warn);
    expect(p.copies).toEqual([]);
  });

  it('takes one past the highest suffix of the minute, never overwriting, never reusing a pruned .N', () => {
    const p = plan({ ...live(), ...set('202611222040'), [`kernel-${V}~~backup202611222040.2`]: 1 });
    expect(p.id).toBe(`${V}~~backup202611222040.3`);
    expect(plan({ ...live(), [`kernel-${V}~~backup202611222040.4`]: 1 }).id).toBe(`${V}~~backup202611222040.5`);
  });

  it('counts only complete sets toward KEEP and removes incomplete ones', () => {
    const orphan = { [`initrd.img-${V}~~backup202605010000`]: 40 * MiB };
    const p = plan({ ...live(), ...set('202601010000'), ...orphan }, { keep: 2 });
    expect(p.deletes.map((d) => [d.id, d.why])).toEqual([[`${V}~~backup202605010000`, 'incomplete']]);
    expect(planPrune(modelBoot(scanOf({ ...set('202601010000'), ...orphan })), 1).map((d) => d.id)).toEqual([`${V}~~backup202605010000`]);
  });

  it('prunes beyond KEEP-1 only after the new set is made, whole sets, kernel before initrd', () => {
    const p = plan({ ...live(), ...set('202601010000'), ...set('202602010000'), ...set('202603010000') }, { keep: 2 });
    expect(p.deletes.map((d) => d.id)).toEqual([`${V}~~backup202602010000`, `${V}~~backup202601010000`]);
    expect(p.deletes.every((d) => d.phase === 'after')).toBe(true);
    expect(p.deletes[0]!.names[0]).toBe(`kernel-${V}~~backup202602010000`);
    expect(p.deletes[0]!.names.at(-1)).toBe(`initrd.img-${V}~~backup202602010000`);
    expect(p.deletes.every((d) => d.why === 'keep')).toBe(true);
  });

  it('removes more older sets only when that makes the backup fit', () => {
    // needed 48 MiB; auto MIN_FREE = 1.2 * 48 + 16 = 73.6 MiB; free 100 MiB -> short by 21.6 MiB.
    const fits = plan({ ...live(), ...set('202601010000'), ...set('202602010000') }, { free: 100 * MiB });
    expect(fits.skip).toBeUndefined();
    expect(fits.deletes.map((d) => [d.id, d.why, d.phase])).toEqual([[`${V}~~backup202601010000`, 'space', 'before']]);
    const hopeless = plan({ ...live(), ...set('202601010000') }, { free: 10 * MiB });
    expect(hopeless.skip?.reason).toBe('no-space');
    expect(hopeless.deletes).toEqual([]);
    expect(hopeless.skip?.message).toMatch(/it needs 49M plus the MIN_FREE_MB reserve of 74M .* only 10M is free/s);
  });

  it('honours a fixed MIN_FREE_MB', () => {
    expect(plan(live(), { minFreeMb: 10, free: 58.01 * MiB }).skip).toBeUndefined();
    expect(plan(live(), { minFreeMb: 10, free: 58 * MiB }).skip?.reason).toBe('no-space');
  });

  it('skips an identical set, and KEEP=0 without deleting the sets of the version being replaced', () => {
    expect(plan({ ...live(), ...set('202601010000') }, { identical: true }).skip?.reason).toBe('identical');
    const zero = plan({ ...live(), ...set('202601010000') }, { keep: 0 });
    expect(zero.skip?.reason).toBe('keep-zero');
    expect(zero.deletes).toEqual([]);
  });

  it('deletes nothing while the configuration has unreadable lines', () => {
    const sets = { ...live(), ...set('202601010000'), ...set('202602010000'), ...set('202603010000') };
    expect(plan(sets, { keep: 1 }).deletes.length).toBe(3);
    const broken = plan(sets, { keep: 1, problems: ['/etc/default/kbackup:2: unknown key ONERROR'] });
    expect(broken.id).toBeDefined();
    expect(broken.deletes).toEqual([]);
  });

  it('never deletes a protected set (the one a restore puts back)', () => {
    const p = plan({ ...live(), ...set('202601010000'), ...set('202602010000') }, { keep: 1, protect: [`${V}~~backup202601010000`] });
    expect(p.deletes.map((d) => d.id)).toEqual([`${V}~~backup202602010000`]);
  });

  it('leaves other versions alone', () => {
    const p = plan({ ...live(), ...set('202601010000', '6.1.0-17-amd64'), ...set('202601020000', '6.1.0-17-amd64') }, { keep: 1 });
    expect(p.deletes).toEqual([]);
  });
});

describe('planPrune / planPurge', () => {
  const files = { ...live(), ...set('202601010000'), ...set('202602010000'), ...set('202601010000', '6.1.0-17-amd64') };
  it('keeps N newest per version', () => {
    expect(planPrune(modelBoot(scanOf(files)), 1).map((d) => d.id)).toEqual([`${V}~~backup202601010000`]);
    expect(planPrune(modelBoot(scanOf(files)), 0).map((d) => d.id).sort()).toEqual(
      [`6.1.0-17-amd64~~backup202601010000`, `${V}~~backup202601010000`, `${V}~~backup202602010000`].sort(),
    );
  });
  it('purges one version only', () => {
    expect(planPurge(modelBoot(scanOf(files)), '6.1.0-17-amd64').map((d) => d.id)).toEqual(['6.1.0-17-amd64~~backup202601010000']);
  });
  it('never removes the known-good set: not by KEEP, not by --keep 0, not by a purge', () => {
    const good = `${V}~~backup202601010000`;
    expect(planPrune(modelBoot(scanOf(files)), 1, undefined, [good]).map((d) => d.id)).toEqual([]);
    expect(planPrune(modelBoot(scanOf(files)), 0, V, [good]).map((d) => d.id)).toEqual([`${V}~~backup202602010000`]);
    expect(planPurge(modelBoot(scanOf(files)), V, [good]).map((d) => d.id)).toEqual([`${V}~~backup202602010000`]);
  });
  it('a backup keeps the known-good set whatever KEEP says, and never deletes it for space', () => {
    const good = `${V}~~backup202601010000`;
    const files2 = { ...live(), ...set('202601010000'), ...set('202602010000') };
    expect(plan(files2, { keep: 1, protect: [good] }).deletes.map((d) => d.id)).toEqual([`${V}~~backup202602010000`]);
    // Tight space: only the other set may go to make room.
    const tight = plan(files2, { keep: 4, protect: [good], free: 60 * MiB });
    expect(tight.deletes.map((d) => d.id)).not.toContain(good);
  });
});

describe('planRestore / planAdopt', () => {
  it('restores initrd first, image last, to live names', () => {
    const model = modelBoot(scanOf({ ...live(), ...set('202601010000') }));
    const r = planRestore(model.sets[0]!);
    expect(r.copies.map((c) => `${c.from} -> ${c.to}`)).toEqual([
      `initrd.img-${V}~~backup202601010000 -> initrd.img-${V}`,
      `System.map-${V}~~backup202601010000 -> System.map-${V}`,
      `config-${V}~~backup202601010000 -> config-${V}`,
      `kernel-${V}~~backup202601010000 -> vmlinuz-${V}`,
    ]);
  });
  it('renames legacy images, and moves one whose kbackup name is taken to the next free .N with copies of its other files', () => {
    const files = {
      ...live(),
      [`vmlinuz-${V}~~backup201407021638`]: 1,
      [`initrd.img-${V}~~backup201407021638`]: 1,
      [`vmlinuz-${V}~~backup201501010000`]: 1,
      [`kernel-${V}~~backup201501010000`]: 1,
      [`initrd.img-${V}~~backup201501010000`]: 1,
    };
    const model = modelBoot(scanOf(files));
    const p = planAdopt(model, new Set(Object.keys(files)));
    expect(p.renames).toEqual([
      { id: `${V}~~backup201501010000.2`, version: V, from: `vmlinuz-${V}~~backup201501010000`, to: `kernel-${V}~~backup201501010000.2` },
      { id: `${V}~~backup201407021638`, version: V, from: `vmlinuz-${V}~~backup201407021638`, to: `kernel-${V}~~backup201407021638` },
    ]);
    expect(p.copies.map((c) => `${c.from} -> ${c.to}`)).toEqual([`initrd.img-${V}~~backup201501010000 -> initrd.img-${V}~~backup201501010000.2`]);
    expect(p.conflicts).toEqual([]);
  });
});
