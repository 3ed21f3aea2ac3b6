// dracut, Debian 13's alternative to initramfs-tools (the two conflict), on a real trixie chroot:
// initrd images built by dracut itself, read by kbackup's own reader and counted against lsinitrd;
// a kernel update backs up before dpkg unpacks, then /etc/kernel/postinst.d/dracut rebuilds the
// live image; `dracut -f` runs /etc/initramfs/post-update.d like update-initramfs but keeps no
// .dpkg-bak; a broken depmod is flagged. The tests share one chroot and run in order.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupSuffixes, type Chroot, createChroot, type FileInfo } from './harness';

const BROKEN_DEPMOD = fs.readFileSync(path.join(__dirname, '../fixtures/initrd/depmod-empty.sh'));
const RECORDER = '/etc/initramfs/post-update.d/zz-kbtest-record';
const RECORDED = '/root/post-update-args';
const MODULE_FILE = /\.ko(\.(xz|zst|gz))?$/;

interface Problem {
  code: string;
  message: string;
  severity: string;
}

let c: Chroot;
let V: string;

function parseJson<T>(r: { code: number; stdout: string; stderr: string }, what: string): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what} did not print JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** dracut's own count of module files in an image (lsinitrd lists it like ls -l). */
async function lsinitrdModules(inside: string): Promise<number> {
  const r = await c.mustRun(`lsinitrd ${inside}`);
  return r.stdout.split('\n').filter((l) => MODULE_FILE.test(l.trim())).length;
}

async function checkReport(): Promise<{ code: number; ok: boolean; problems: Problem[]; raw: string }> {
  const r = await c.kbackup('check --json');
  const report = parseJson<{ ok: boolean; problems: Problem[] }>(r, 'kbackup check --json');
  return { code: r.code, ok: report.ok, problems: report.problems, raw: `${r.stdout}\n${r.stderr}` };
}

beforeAll(async () => {
  c = await createChroot({ suite: 'trixie', initramfs: 'dracut', label: 'dracut-trixie' });
  V = c.kernel.version;
});

afterAll(async () => {
  await c?.dispose();
});

describe('Debian 13 (trixie) with dracut instead of initramfs-tools', () => {
  it('1. dracut built the archive kernel initrd; kbackup reads it through lsinitrd and finds nothing wrong', async () => {
    expect(await c.packageVersion('initramfs-tools')).toBe('');
    expect(await c.packageVersion('dracut')).not.toBe('');
    expect((await c.run('command -v lsinitramfs')).code).not.toBe(0);
    expect((await c.run('command -v lsinitrd')).code).toBe(0);
    expect(c.exists(`/boot/initrd.img-${V}`)).toBe(true);
    // A real dracut image: its own tool lists a sane number of modules in it.
    expect(await lsinitrdModules(`/boot/initrd.img-${V}`)).toBeGreaterThan(20);
    // Nothing wrong; check only says, once, that dracut keeps no previous image of its own rebuilds,
    // and (TRIAL_BOOT=yes from debconf's default) that grub.cfg gets the trial logic at the next
    // update-grub: the package's installation does not run update-grub itself.
    const report = await checkReport();
    expect(report.problems.map((p) => [p.code, p.severity]), report.raw).toEqual([
      ['trial-unavailable', 'warning'],
      ['initrd-rebuilt-unkept', 'warning'],
    ]);
    expect(report.problems[0]!.message).toContain('run update-grub');
    expect(report.ok).toBe(true);
  });

  it('2. a same-name kernel update backs up the old set first, then /etc/kernel/postinst.d/dracut rebuilds the live initrd; kbackup diff reads both images', async () => {
    const before = c.bootFiles();
    const start = Date.now();
    const u = await c.kernelUpdate();
    const out = `${u.stdout}\n${u.stderr}`;
    expect(u.code, out).toBe(0);
    expect(out).toContain(`dracut: Generating /boot/initrd.img-${V}`);
    const after = c.bootFiles();
    const suffixes = backupSuffixes(Object.keys(after), V);
    expect(suffixes.length, out).toBe(1);
    const s = suffixes[0]!;
    const pairs: [string, FileInfo | undefined][] = [
      [`kernel-${V}${s}`, before[`vmlinuz-${V}`]],
      [`initrd.img-${V}${s}`, before[`initrd.img-${V}`]],
      [`config-${V}${s}`, before[`config-${V}`]],
      [`System.map-${V}${s}`, before[`System.map-${V}`]],
    ];
    for (const [name, was] of pairs) expect(after[name]?.sha256, `${name} holds the pre-update file`).toBe(was!.sha256);
    // dracut rebuilt the live image after our preinst had kept the old one.
    expect(after[`initrd.img-${V}`]!.mtimeMs).toBeGreaterThan(start - 1000);

    const liveCount = await lsinitrdModules(`/boot/initrd.img-${V}`);
    const backupCount = await lsinitrdModules(`/boot/initrd.img-${V}${s}`);
    const diff = await c.kbackup('diff --json');
    const d = parseJson<{ ok: boolean; live: { moduleFiles: number }; backup: { id: string; moduleFiles: number }; modules: { added: string[]; removed: string[] } }>(
      diff,
      'kbackup diff --json',
    );
    expect(d.backup.id).toBe(`${V}${s}`);
    // kbackup's reader agrees with dracut's own tool on both images.
    expect(d.live.moduleFiles).toBe(liveCount);
    expect(d.backup.moduleFiles).toBe(backupCount);
    expect(d.modules).toEqual({ added: [], removed: [] });
    expect(d.ok, diff.stdout).toBe(true);
    const report = await checkReport();
    expect(report.problems.filter((p) => p.severity === 'error'), report.raw).toEqual([]);
  });

  it('3. dracut -f runs /etc/initramfs/post-update.d with the kernel version and the image path, as update-initramfs does, and leaves no .dpkg-bak', async () => {
    c.writeFile(RECORDER, `#!/bin/sh\necho "$*" >> ${RECORDED}\n`, 0o755);
    const setsBefore = backupSuffixes(Object.keys(c.bootFiles()), V);
    try {
      const r = await c.run(`dracut -f --kver ${V}`);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(c.readFile(RECORDED).trim().split('\n')).toEqual([`${V} /boot/initrd.img-${V}`]);
    } finally {
      fs.rmSync(c.host(RECORDER), { force: true });
    }
    const names = Object.keys(c.bootFiles());
    expect(names.filter((n) => n.endsWith('.dpkg-bak'))).toEqual([]);
    // So kbackup's initramfs hook has no previous image to keep: no new set, and check says so plainly.
    expect(backupSuffixes(names, V)).toEqual(setsBefore);
    const report = await checkReport();
    const unkept = report.problems.find((p) => p.code === 'initrd-rebuilt-unkept');
    expect(unkept, report.raw).toBeDefined();
    expect(unkept!.message).toContain('kbackup snapshot');
  });

  it('4. a kernel update with a broken depmod: the postinst hook and check flag the dracut image, with dracut\'s own command as advice', async () => {
    await c.mustRun('dpkg-divert --local --rename --divert /sbin/depmod.real --add /sbin/depmod');
    c.writeFile('/sbin/depmod', BROKEN_DEPMOD, 0o755);
    let out: string;
    try {
      const u = await c.kernelUpdate();
      out = `${u.stdout}\n${u.stderr}`;
      expect(u.code, out).toBe(0);
    } finally {
      await c.mustRun('rm -f /sbin/depmod && dpkg-divert --local --rename --remove /sbin/depmod');
    }
    expect(c.readFile(`/lib/modules/${V}/modules.dep`), 'the scenario: depmod left an empty modules.dep').toBe('');
    expect(out).toMatch(/initrd-modules-dep-empty|initrd-modules-dropped/);
    const report = await checkReport();
    expect(report.code, report.raw).toBe(1);
    const initrd = report.problems.filter((p) => p.code.startsWith('initrd-'));
    expect(initrd.map((p) => p.code), report.raw).toEqual(expect.arrayContaining(['initrd-modules-dep-empty']));
    // Advice an admin can follow on this machine: dracut's command, not initramfs-tools'.
    const advice = initrd.map((p) => p.message).join('\n');
    expect(advice).toContain('dracut');
    expect(advice).not.toContain('update-initramfs');
  });
});
