// The built CLI against temp roots: making backups from the preinst hook and snapshot.
import * as fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cpioNewc, fakeInitrd, installKernel, kbackup, makeRoot, requireBuiltCli, V, type TempRoot } from '../helpers/root';

let root: TempRoot;
beforeAll(() => {
  requireBuiltCli();
});
afterEach(() => root?.cleanup());

const SET_RE = new RegExp(`^${V.replace(/\./g, '\\.')}~~backup\\d{12}$`);

function backupNames(r: TempRoot): string[] {
  return r.ls().filter((n) => n.includes('~~backup'));
}

describe('hook preinst', () => {
  it('copies every live file of the version under the spec names, one timestamp for the set', () => {
    root = makeRoot();
    installKernel(root);
    const before = Object.fromEntries(['vmlinuz', 'initrd.img', 'config', 'System.map'].map((s) => [s, root.sha(`boot/${s}-${V}`)]));
    const r = kbackup(root, ['hook', 'preinst', V], { DEB_MAINT_PARAMS: 'upgrade 6.1.76-1' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const names = backupNames(root);
    expect(names).toHaveLength(4);
    const suffix = names[0]!.slice(names[0]!.indexOf('~~backup'));
    expect(suffix).toMatch(/^~~backup\d{12}$/);
    expect(names.sort()).toEqual([`System.map-${V}${suffix}`, `config-${V}${suffix}`, `initrd.img-${V}${suffix}`, `kernel-${V}${suffix}`].sort());
    expect(root.sha(`boot/kernel-${V}${suffix}`)).toBe(before.vmlinuz);
    expect(root.sha(`boot/initrd.img-${V}${suffix}`)).toBe(before['initrd.img']);
    // The original script's name must never be written: linux-base would sort it above the live kernel.
    expect(root.ls().some((n) => n.startsWith(`vmlinuz-${V}~~`))).toBe(false);
    const listed = JSON.parse(kbackup(root, ['list', '--json']).stdout);
    expect(listed).toHaveLength(1);
    expect(listed[0].id).toMatch(SET_RE);
    expect(listed[0].packageVersion).toBe('6.1.76-1');
    expect(listed[0].complete).toBe(true);
    expect(listed[0].verified).toBe(true);
    expect(listed[0].files.map((f: { sha256: string }) => f.sha256)).toContain(before['initrd.img']);
    const stamp = suffix.slice('~~backup'.length);
    expect(new Date(listed[0].created).toISOString().slice(0, 16)).toBe(
      `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(8, 10)}:${stamp.slice(10, 12)}`,
    );
  });

  it('keeps mode, owner and mtime (a 0600 initrd stays 0600)', () => {
    root = makeRoot();
    installKernel(root);
    const initrd = root.file(`boot/initrd.img-${V}`);
    const mtime = new Date('2024-02-03T04:05:06Z');
    fs.utimesSync(initrd, mtime, mtime);
    if (process.getuid?.() === 0) fs.chownSync(initrd, 1234, 2345);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const copy = backupNames(root).find((n) => n.startsWith('initrd.img-'))!;
    const st = fs.statSync(root.file(`boot/${copy}`));
    expect(st.mode & 0o7777).toBe(0o600);
    expect(st.mtime.getTime()).toBe(mtime.getTime());
    if (process.getuid?.() === 0) expect([st.uid, st.gid]).toEqual([1234, 2345]);
  });

  it('is a quiet no-op with exit 0 on a fresh install of a new ABI, whatever DEB_MAINT_PARAMS says', () => {
    root = makeRoot();
    installKernel(root, '6.1.0-17-amd64');
    for (const params of ['install', 'upgrade 6.1.85-1', '']) {
      const r = kbackup(root, ['hook', 'preinst', V], { DEB_MAINT_PARAMS: params });
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).toBe('');
      const verbose = kbackup(root, ['-v', 'hook', 'preinst', V], { DEB_MAINT_PARAMS: params });
      expect(verbose.stderr.trim().split('\n')).toEqual([`kbackup: no kernel ${V} installed yet: nothing to back up`]);
    }
    expect(backupNames(root)).toEqual([]);
    expect(fs.existsSync(root.file('var/lib/kbackup/manifest.json'))).toBe(false);
  });

  it('does not copy a set identical to the newest backup again (a retried preinst, a reinstall)', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('identical');
    expect(backupNames(root)).toHaveLength(4);
  });

  it('never keeps a kernel without its initrd: a missing initrd skips the backup with a warning', () => {
    root = makeRoot();
    installKernel(root);
    fs.rmSync(root.file(`boot/initrd.img-${V}`));
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`initrd.img-${V} is missing`);
    expect(backupNames(root)).toEqual([]);
    root.config('ON_ERROR=fail\n');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(1);
  });

  it('backs up the bytes behind a symlinked live file as a regular file', () => {
    root = makeRoot();
    installKernel(root);
    fs.renameSync(root.file(`boot/vmlinuz-${V}`), root.file('boot/real-vmlinuz'));
    fs.symlinkSync('real-vmlinuz', root.file(`boot/vmlinuz-${V}`));
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const image = backupNames(root).find((n) => n.startsWith('kernel-'))!;
    expect(fs.lstatSync(root.file(`boot/${image}`)).isFile()).toBe(true);
    expect(root.sha(`boot/${image}`)).toBe(root.sha('boot/real-vmlinuz'));
  });

  it('removes temporary files an interrupted run left, and check reports them until then', () => {
    root = makeRoot();
    installKernel(root);
    root.write(`boot/.kbackup-tmp-initrd.img-${V}~~backup202601010000.999.abcd`, 'half a copy');
    const check = JSON.parse(kbackup(root, ['check', '--json']).stdout);
    expect(check.problems.map((p: { code: string }) => p.code)).toContain('temp-files-left');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    expect(root.ls().filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('does nothing when ENABLED=no', () => {
    root = makeRoot();
    installKernel(root);
    root.config('ENABLED=no\n');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    expect(backupNames(root)).toEqual([]);
  });
});

describe('hook initramfs', () => {
  it('keeps the previous initrd (INITRD.dpkg-bak) with the live kernel when update-initramfs -u rebuilt it', () => {
    root = makeRoot();
    installKernel(root);
    const initrd = `boot/initrd.img-${V}`;
    const previous = root.sha(initrd);
    fs.copyFileSync(root.file(initrd), root.file(`${initrd}.dpkg-bak`));
    root.write(initrd, fakeInitrd(1000, 42), 0o600); // the rebuilt image
    const r = kbackup(root, ['hook', 'initramfs', V, `/boot/initrd.img-${V}`]);
    expect(r.code, r.stderr).toBe(0);
    const sets = JSON.parse(kbackup(root, ['list', '--json']).stdout);
    expect(sets).toHaveLength(1);
    expect(sets[0].origin).toBe('initramfs');
    const names = backupNames(root);
    const keptInitrd = names.find((n) => n.startsWith('initrd.img-'))!;
    expect(root.sha(`boot/${keptInitrd}`)).toBe(previous);
    expect(root.sha(`boot/${names.find((n) => n.startsWith('kernel-'))}`)).toBe(root.sha(`boot/vmlinuz-${V}`));
    // The same rebuild reported again (or a preinst that already kept that initrd): nothing new.
    expect(kbackup(root, ['hook', 'initramfs', V, `/boot/initrd.img-${V}`]).code).toBe(0);
    expect(backupNames(root)).toHaveLength(names.length);
  });

  it('warns at update time when the rebuilt initrd lost its modules (an empty modules.dep)', () => {
    root = makeRoot();
    installKernel(root);
    const mods = (n: number, dep: string) =>
      cpioNewc([
        { name: 'usr' },
        { name: 'usr/lib' },
        { name: 'usr/lib/modules' },
        { name: `usr/lib/modules/${V}` },
        { name: `usr/lib/modules/${V}/modules.dep`, data: dep },
        ...Array.from({ length: n }, (_, i) => ({ name: `usr/lib/modules/${V}/m${i}.ko`, data: `module ${i}` })),
      ]);
    root.write(`boot/initrd.img-${V}.dpkg-bak`, mods(60, Array.from({ length: 60 }, (_, i) => `m${i}.ko:`).join('\n')), 0o600);
    root.write(`boot/initrd.img-${V}`, mods(0, ''), 0o600);
    const r = kbackup(root, ['hook', 'initramfs', V, `/boot/initrd.img-${V}`]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('initrd-modules-dropped');
    expect(r.stderr).toContain('kbackup diff');
    const check = kbackup(root, ['check', '--json']);
    expect(check.code).toBe(1);
    expect(JSON.parse(check.stdout).problems.map((p: { code: string }) => p.code)).toContain('initrd-modules-dropped');
  });

  it('does nothing when the image was created (no .dpkg-bak) or rebuilt identically', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['hook', 'initramfs', V, `/boot/initrd.img-${V}`]).code).toBe(0);
    fs.copyFileSync(root.file(`boot/initrd.img-${V}`), root.file(`boot/initrd.img-${V}.dpkg-bak`));
    expect(kbackup(root, ['hook', 'initramfs', V, `/boot/initrd.img-${V}`]).code).toBe(0);
    expect(backupNames(root)).toEqual([]);
  });
});

describe('snapshot', () => {
  it('backs up a named kernel, and --dry-run prints the plan and touches nothing', () => {
    root = makeRoot();
    installKernel(root);
    const dry = kbackup(root, ['snapshot', V, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would copy vmlinuz-${V} -> kernel-${V}~~backup`);
    expect(dry.stdout.indexOf('would copy initrd.img')).toBeLessThan(dry.stdout.indexOf('would copy vmlinuz'));
    expect(backupNames(root)).toEqual([]);
    const real = kbackup(root, ['snapshot', V]);
    expect(real.code).toBe(0);
    expect(backupNames(root)).toHaveLength(4);
  });

  it('says clearly when the kernel does not exist (exit 2)', () => {
    root = makeRoot();
    const r = kbackup(root, ['snapshot', '9.9.9-1-amd64']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('there is no kernel 9.9.9-1-amd64');
  });
});
