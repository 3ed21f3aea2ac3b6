// check and the hooks in process: the check's one reading of a root, and ON_ERROR's answer when a
// hook fails, through the command layer (makeContext) with a test world.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/commands/context';
import { runHook } from '../../src/commands/hook';
import { DEFAULT_CONFIG } from '../../src/core/model/config';
import { backupBeforeUpdate } from '../../src/core/ops/backup';
import { check } from '../../src/core/ops/check';
import { bytes, installKernel, makeRoot, V, type TempRoot } from '../helpers/root';
import { testWorld, type TestWorld } from '../helpers/world';

let root: TempRoot;
afterEach(() => root?.cleanup());

const defaults = () => ({ ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] });
const codes = (problems: { code: string }[]) => problems.map((p) => p.code);

function context(world: TestWorld) {
  const out: string[] = [];
  const ctx = makeContext(world, { out: (t) => out.push(t), interactive: false, ask: async () => '' });
  return { ctx, out };
}

describe('check op', () => {
  it('predicts the backup below the live kernel, and names a rotten backup and a purged kernel\'s backups', async () => {
    root = makeRoot();
    installKernel(root);
    const world = testWorld(root.dir);
    const id = (await backupBeforeUpdate(world, defaults(), V))!.id!;
    const clean = await check(world, defaults());
    expect(clean.predictedOrder).toEqual([`/boot/vmlinuz-${V}`, `/boot/kernel-${id}`]);
    expect(clean.flavour).toBe('dpkg');
    // No GRUB scripts and no initrd tools in this world: warnings, not errors.
    expect(codes(clean.problems)).toContain('grub-not-found');
    expect(clean.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(clean.ok).toBe(true);

    fs.appendFileSync(root.file(`boot/kernel-${id}`), 'rot');
    root.write('boot/kernel-6.2.0-1-amd64~~backup202601010000', bytes(100, 1));
    root.write('boot/initrd.img-6.2.0-1-amd64~~backup202601010000', bytes(100, 2));
    const bad = await check(world, defaults());
    expect(bad.ok).toBe(false);
    expect(codes(bad.problems)).toEqual(expect.arrayContaining(['backup-is-default', 'manifest-mismatch', 'backup-unrecorded']));
    expect(bad.defaultEntry).toBe('/boot/kernel-6.2.0-1-amd64~~backup202601010000');
  });
});

describe('hooks through the command layer', () => {
  it('a bad configuration line: the hook warns, backs up with the defaults, and exits 0', async () => {
    root = makeRoot();
    installKernel(root);
    root.config('KEEP=lots\n');
    const world = testWorld(root.dir);
    const { ctx } = context(world);
    expect(await runHook(ctx, 'preinst', V, undefined)).toBe(0);
    expect(world.logs.some((l) => l.startsWith('warn: ') && l.includes('KEEP') && l.includes('default settings'))).toBe(true);
    expect(root.ls().filter((n) => n.includes('~~backup'))).toHaveLength(4);
  });

  it('a backup that cannot be made: exit 0 with ON_ERROR=warn, the error with ON_ERROR=fail', async () => {
    root = makeRoot();
    installKernel(root);
    fs.rmSync(root.file(`boot/initrd.img-${V}`));
    const world = testWorld(root.dir);
    expect(await runHook(context(world).ctx, 'preinst', V, undefined)).toBe(0);
    expect(world.logs.some((l) => l.startsWith('warn: ') && l.includes('ON_ERROR=warn'))).toBe(true);
    root.config('ON_ERROR=fail\n');
    await expect(runHook(context(testWorld(root.dir)).ctx, 'preinst', V, undefined)).rejects.toThrow(/initrd\.img-.* is missing/);
  });
});
