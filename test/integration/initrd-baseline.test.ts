// The built CLI on temp roots: a new-ABI kernel (no backup of its own version) is judged against
// another kernel's initrd, at update time (postinst, initramfs hooks) and by check; advice names the
// installed generator; the summaries of images already read are kept between runs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bytes, cpioNewc, kbackup, makeRoot, requireBuiltCli, type TempRoot } from '../helpers/root';

const OLD = '6.1.0-50-amd64';
const NEW = '6.1.0-57-amd64';
const STORAGE = ['virtio_blk', 'virtio_scsi', 'nvme', 'ahci', 'sd_mod', 'ext4'];
const OTHERS = Array.from({ length: 54 }, (_, i) => `mod${i}`);

let root: TempRoot;
beforeAll(() => {
  requireBuiltCli();
});
afterEach(() => root?.cleanup());

/** A well-formed initrd holding these modules of `version`, with a modules.dep naming them (or an empty one). */
function initrdWith(version: string, modules: readonly string[], options: { emptyDep?: boolean; seed?: number } = {}): Buffer {
  const dir = `usr/lib/modules/${version}`;
  return cpioNewc([
    { name: 'conf' },
    { name: 'conf/initramfs.conf', data: 'MODULES=most\n' },
    { name: 'usr' },
    { name: 'usr/lib' },
    { name: 'usr/lib/modules' },
    { name: dir },
    { name: `${dir}/kernel` },
    { name: `${dir}/modules.dep`, data: options.emptyDep ? '' : modules.map((m) => `kernel/${m}.ko:`).join('\n') },
    ...modules.map((m) => ({ name: `${dir}/kernel/${m}.ko`, data: `module ${m} ${options.seed ?? 0}` })),
  ]);
}

function installKernel(r: TempRoot, version: string, initrd: Buffer, seed: number): void {
  r.write(`boot/vmlinuz-${version}`, bytes(4096, seed));
  r.write(`boot/initrd.img-${version}`, initrd, 0o600);
  r.write(`boot/config-${version}`, `# config ${version}\n`);
  r.write(`boot/System.map-${version}`, `ffffffff81000000 T _text ${version}\n`);
}

/** The previous default (good, 60 modules) and a new ABI whose initrd is given. */
function newAbiRoot(newInitrd: Buffer, generator: 'initramfs-tools' | 'dracut' = 'initramfs-tools'): TempRoot {
  const r = makeRoot();
  installKernel(r, OLD, initrdWith(OLD, [...STORAGE, ...OTHERS]), 1);
  installKernel(r, NEW, newInitrd, 2);
  if (generator === 'dracut') r.write('usr/bin/dracut', '#!/bin/sh\n', 0o755);
  else r.write('usr/sbin/update-initramfs', '#!/bin/sh\n', 0o755);
  return r;
}

/** A boot record as `kbackup boot-record` writes it (model/boots.ts). */
function bootRecord(version: string, initrdSha256: string | null = null): Record<string, unknown> {
  return {
    time: '2026-11-20T10:00:00.000Z',
    bootId: '0f0e0d0c-0b0a-4908-8706-050403020100',
    version,
    image: `/boot/vmlinuz-${version}`,
    initrd: `/boot/initrd.img-${version}`,
    imageSha256: 'a'.repeat(64),
    initrdSha256,
    setId: null,
    trial: null,
  };
}

interface Report {
  ok: boolean;
  problems: { code: string; message: string; severity: string }[];
}

function check(r: TempRoot, env: Record<string, string> = {}): { code: number; report: Report } {
  const res = kbackup(r, ['check', '--json'], env);
  return { code: res.code, report: JSON.parse(res.stdout) as Report };
}

const initrdProblems = (report: Report) => report.problems.filter((p) => p.code.startsWith('initrd-'));

describe('a new-ABI kernel is judged against the previous default', () => {
  it('an empty modules.dep: the postinst hook and check name both images and both codes', () => {
    root = newAbiRoot(initrdWith(NEW, [], { emptyDep: true }));
    const hook = kbackup(root, ['hook', 'postinst', NEW]);
    expect(hook.code).toBe(0);
    expect(hook.stderr).toContain(`initrd-modules-dropped: initrd.img-${NEW} has 0 modules where initrd.img-${OLD} (the previous default) had 60`);
    expect(hook.stderr).toContain('initrd-modules-dep-empty');
    expect(hook.stderr).toContain(`update-initramfs -u -k ${NEW} once modules.dep is sound`);
    expect(hook.stderr).not.toContain('no problems found');

    const { code, report } = check(root);
    expect(code).toBe(1);
    expect(initrdProblems(report).map((p) => p.code)).toEqual(['initrd-modules-dep-empty', 'initrd-modules-dropped']);
    // The older kernel is not judged against the newer one.
    for (const p of report.problems) expect(p.message).not.toMatch(new RegExp(`^initrd\\.img-${OLD.replace(/\./g, '\\.')} `));
  });

  it('modules missing with a sound modules.dep: the root disk driver is named', () => {
    root = newAbiRoot(initrdWith(NEW, [...STORAGE.filter((m) => m !== 'virtio_blk'), ...OTHERS, 'mod_new']));
    const hook = kbackup(root, ['hook', 'postinst', NEW]);
    expect(hook.stderr).toContain(`initrd-modules-dropped: initrd.img-${NEW} lacks virtio_blk, which initrd.img-${OLD} (the previous default) held`);
    expect(hook.stderr).not.toContain('modules.dep');
    const { report } = check(root);
    expect(initrdProblems(report).map((p) => p.code)).toEqual(['initrd-modules-dropped']);

    // A driver the new kernel builds in needs no module file.
    root.write(`lib/modules/${NEW}/modules.builtin`, 'kernel/drivers/block/virtio_blk.ko\n');
    const again = check(root);
    expect(again.code).toBe(0);
    expect(initrdProblems(again.report)).toEqual([]);
  });

  it('a sound new ABI with a few modules more or less is no problem', () => {
    root = newAbiRoot(initrdWith(NEW, [...STORAGE, ...OTHERS.slice(3), 'mod_new1', 'mod_new2']));
    const hook = kbackup(root, ['hook', 'postinst', NEW]);
    expect(hook.stderr).toContain('no problems found');
    expect(check(root).code).toBe(0);
  });

  it('the known-good boot is the baseline when one is recorded', () => {
    root = newAbiRoot(initrdWith(NEW, [], { emptyDep: true }));
    const KG = '6.1.0-40-amd64';
    installKernel(root, KG, initrdWith(KG, [...STORAGE, ...OTHERS, 'mod_kg']), 3);
    root.write('var/lib/kbackup/boots.json', JSON.stringify([bootRecord(KG)]));
    const { report } = check(root);
    const dropped = report.problems.find((p) => p.code === 'initrd-modules-dropped');
    expect(dropped?.message).toContain(`initrd.img-${NEW} has 0 modules where initrd.img-${KG} (the last one that booted) had 61`);
  });
});

describe('the known-good initrd is the one that booted', () => {
  it('a rebuilt known-good initrd is no baseline, but a kept copy of the booted one is', () => {
    root = newAbiRoot(initrdWith(NEW, [], { emptyDep: true }));
    const KG = '6.1.0-40-amd64';
    installKernel(root, KG, initrdWith(KG, [...STORAGE, ...OTHERS, 'mod_kg']), 3);
    const bootedSha = root.sha(`boot/initrd.img-${KG}`);
    root.write('var/lib/kbackup/boots.json', JSON.stringify([bootRecord(KG, bootedSha)]));
    const dropped = () => check(root).report.problems.find((p) => p.code === 'initrd-modules-dropped')?.message;
    expect(dropped()).toContain(`where initrd.img-${KG} (the last one that booted) had 61`);

    expect(kbackup(root, ['snapshot', KG]).code).toBe(0);
    root.write(`boot/initrd.img-${KG}`, initrdWith(KG, [...STORAGE, ...OTHERS], { seed: 5 }), 0o600);
    expect(dropped()).toMatch(new RegExp(`where initrd\\.img-${KG.replace(/\./g, '\\.')}~~backup\\d{12} \\(the last one that booted\\) had 61`));

    for (const name of root.ls().filter((n) => n.includes(`${KG}~~backup`))) fs.rmSync(root.file(`boot/${name}`));
    expect(dropped()).toContain(`where initrd.img-${OLD} (the previous default) had 60`);
  });
});

describe('under dracut', () => {
  it('advice names dracut, check says rebuilds are not kept until a boot is recorded', () => {
    root = newAbiRoot(initrdWith(NEW, [], { emptyDep: true }), 'dracut');
    const { report } = check(root);
    const errors = report.problems.filter((p) => p.severity === 'error');
    expect(errors.map((p) => p.code)).toEqual(['initrd-modules-dep-empty', 'initrd-modules-dropped']);
    for (const p of errors) {
      expect(p.message).toContain(`dracut -f --kver ${NEW}`);
      expect(p.message).not.toContain('update-initramfs');
    }
    expect(report.problems.filter((p) => p.code === 'initrd-rebuilt-unkept').map((p) => p.severity)).toEqual(['warning']);

    root.write('var/lib/kbackup/boots.json', JSON.stringify([bootRecord(OLD)]));
    expect(check(root).report.problems.map((p) => p.code)).not.toContain('initrd-rebuilt-unkept');
  });

  it('the initramfs hook judges a rebuild without .dpkg-bak, but leaves a kernel update to postinst', () => {
    root = newAbiRoot(initrdWith(NEW, [], { emptyDep: true }), 'dracut');
    const rebuild = kbackup(root, ['hook', 'initramfs', NEW, `/boot/initrd.img-${NEW}`]);
    expect(rebuild.code).toBe(0);
    expect(rebuild.stderr).toContain(`initrd-modules-dropped: initrd.img-${NEW} has 0 modules where initrd.img-${OLD} (the previous default) had 60`);
    expect(rebuild.stderr).toContain(`dracut -f --kver ${NEW}`);
    expect(rebuild.stderr).toContain('no backup of it exists');
    const inUpdate = kbackup(root, ['hook', 'initramfs', NEW, `/boot/initrd.img-${NEW}`], { DPKG_MAINTSCRIPT_PACKAGE: `linux-image-${NEW}` });
    expect(inUpdate).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('inside a kernel update the postinst hook reads the new image in its own time', () => {
  const kernelUpdate = { DPKG_MAINTSCRIPT_PACKAGE: `linux-image-${NEW}`, DEB_MAINT_PARAMS: 'configure' };

  it('the initramfs hook reads nothing and starts nothing; the postinst hook judges the image', () => {
    root = newAbiRoot(initrdWith(NEW, [], { emptyDep: true }));
    // kbackup() fails the test if any process the hook started is still running after it exits.
    const hook = kbackup(root, ['-v', 'hook', 'initramfs', NEW, `/boot/initrd.img-${NEW}`], kernelUpdate);
    expect(hook.code).toBe(0);
    expect(hook.stderr).not.toMatch(/initrd-|background/);
    expect(fs.existsSync(root.file('var/lib/kbackup/initrd-summaries.json'))).toBe(false);
    const postinst = kbackup(root, ['-v', 'hook', 'postinst', NEW], kernelUpdate);
    expect(postinst.code).toBe(0);
    expect(postinst.stderr).toContain(`initrd-modules-dropped: initrd.img-${NEW} has 0 modules where initrd.img-${OLD} (the previous default) had 60`);
    // Both images it needed were read once and kept: the new one and the previous default's.
    const cache = JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/initrd-summaries.json'), 'utf8')) as { entries: { sha256: string }[] };
    expect(cache.entries.map((e) => e.sha256).sort()).toEqual([root.sha(`boot/initrd.img-${OLD}`), root.sha(`boot/initrd.img-${NEW}`)].sort());
  });

  it('a rewritten image is not taken for the one read, even with its size and mtime put back', () => {
    root = newAbiRoot(initrdWith(NEW, ['aaa'], { emptyDep: true }));
    expect(kbackup(root, ['check']).code).toBe(1);
    const live = root.file(`boot/initrd.img-${NEW}`);
    const before = fs.statSync(live, { bigint: true });
    // Same length, other content, the very same mtime (touch -r keeps the nanoseconds): only the
    // inode's ctime and the sha256 tell.
    const other = initrdWith(NEW, ['bbb'], { emptyDep: true });
    expect(other.length).toBe(Number(before.size));
    const reference = root.file('mtime-reference');
    fs.copyFileSync(live, reference);
    expect(spawnSync('touch', ['-r', live, reference]).status).toBe(0);
    fs.writeFileSync(live, other);
    expect(spawnSync('touch', ['-r', reference, live]).status).toBe(0);
    const after = fs.statSync(live, { bigint: true });
    expect([after.ino, after.size, after.mtimeNs]).toEqual([before.ino, before.size, before.mtimeNs]);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);
    const postinst = kbackup(root, ['-v', 'hook', 'postinst', NEW], kernelUpdate);
    expect(postinst.stderr).not.toContain(`/boot/initrd.img-${NEW}: summary kept from an earlier reading`);
    expect(postinst.stderr).toContain(`/boot/initrd.img-${OLD}: summary kept from an earlier reading`);
  });
});

describe('initrd summaries are kept between runs', () => {
  it('a second check reads no image it already read, and a changed image is read again', () => {
    root = newAbiRoot(initrdWith(NEW, [], { emptyDep: true }));
    const first = check(root);
    const cache = JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/initrd-summaries.json'), 'utf8')) as { entries: { sha256: string }[] };
    expect(cache.entries.map((e) => e.sha256).sort()).toEqual([root.sha(`boot/initrd.img-${OLD}`), root.sha(`boot/initrd.img-${NEW}`)].sort());
    const again = kbackup(root, ['-v', 'check', '--json']);
    expect(JSON.parse(again.stdout).problems).toEqual(first.report.problems);
    for (const v of [OLD, NEW]) expect(again.stderr).toContain(`/boot/initrd.img-${v}: summary kept from an earlier reading`);

    root.write(`boot/initrd.img-${NEW}`, initrdWith(NEW, [], { emptyDep: true, seed: 9 }), 0o600);
    const changed = kbackup(root, ['-v', 'check', '--json']);
    expect(changed.stderr).not.toContain(`/boot/initrd.img-${NEW}: summary kept from an earlier reading`);
    expect(changed.stderr).toContain(`/boot/initrd.img-${OLD}: summary kept from an earlier reading`);
    expect(JSON.parse(changed.stdout).problems).toEqual(first.report.problems);
  });
});
