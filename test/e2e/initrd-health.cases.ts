// The two field reports, reproduced on a real Debian 12 or 13 chroot (real dpkg, kernel package,
// initramfs-tools and update-grub; kbackup installed from dist/):
//  - a broken kmod: depmod "succeeds" but writes an empty modules.dep, so the kernel update's
//    regenerated initrd holds no modules. The postinst hook and `kbackup check` must say so, and
//    restoring the previous set must clear it.
//  - a configuration file the initrd carries changes and `update-initramfs -u` rebuilds the image:
//    the previous initrd is kept as a backup set and `kbackup diff` names the changed file.
// Run for zstd (the default of both releases) and, on Debian 12, gzip: initrd-health.<suite>.test.ts.
// Debian 13's initramfs-tools 0.148 puts the modules in an extra uncompressed cpio segment.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChroot, type Chroot, type Suite, SUITE_NUMBER } from './harness';

const BROKEN_DEPMOD = fs.readFileSync(path.join(__dirname, '../fixtures/initrd/depmod-empty.sh'));
const CONF = '/etc/initramfs-tools/conf.d/kbtest';

interface ListedSet {
  id: string;
  version: string;
  created: string;
  files: { path: string }[];
}

function parseJson<T>(r: { code: number; stdout: string; stderr: string }, what: string): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what} did not print JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

const codesOf = (problems: { code: string }[]) => problems.map((p) => p.code);

export function initrdHealthTests(suite: Suite, compressions: readonly ('zstd' | 'gzip')[]): void {
  for (const compression of compressions) {
    describe(`Debian ${SUITE_NUMBER[suite]}: initrd health with COMPRESS=${compression}`, () => {
      let c: Chroot;
      let version: string;

      async function sets(): Promise<ListedSet[]> {
        return parseJson<ListedSet[]>(await c.kbackup('list --json'), 'kbackup list --json');
      }

      beforeAll(async () => {
        c = await createChroot({ suite, label: `initrd-health-${suite}-${compression}` });
        version = c.kernel.version;
        c.writeFile(CONF, '# md arrays of host foo\nRESUME=none\n');
        await c.mustRun(`sed -i 's/^COMPRESS=.*/COMPRESS=${compression}/' /etc/initramfs-tools/initramfs.conf`);
        await c.mustRun(`update-initramfs -u -k ${version}`);
      });

      afterAll(async () => {
        await c?.dispose();
      });

      it(`the live initrd is ${compression}; check only notes the configuration this setup changed`, async () => {
        const head = fs.readFileSync(c.host(`/boot/initrd.img-${version}`)).subarray(0, 4);
        // no microcode package in the chroot, so the image starts with the main archive's magic
        expect(head.toString('hex').slice(0, compression === 'zstd' ? 8 : 4)).toBe(compression === 'zstd' ? '28b52ffd' : '1f8b');
        const r = await c.kbackup('check --json');
        const report = parseJson<{ ok: boolean; problems: { code: string; message: string; severity: string }[] }>(r, 'kbackup check --json');
        // beforeAll's update-initramfs -u kept the archive's initrd as a backup set; against it, the
        // rebuilt image gained conf/conf.d/kbtest (and, for gzip, a changed COMPRESS= line). A warning only.
        const initrd = report.problems.filter((p) => p.code.startsWith('initrd-'));
        expect(initrd.map((p) => [p.code, p.severity])).toEqual([['initrd-config-changed', 'warning']]);
        expect(initrd[0]!.message).toContain('added: conf/conf.d/kbtest');
        if (compression === 'gzip') expect(initrd[0]!.message).toContain('changed: conf/initramfs.conf');
        else expect(initrd[0]!.message).not.toContain('conf/initramfs.conf');
      });

      it('a kernel update with a broken depmod: the postinst hook and check name modules.dep and the dropped modules', async () => {
        await c.mustRun('dpkg-divert --local --rename --divert /sbin/depmod.real --add /sbin/depmod');
        c.writeFile('/sbin/depmod', BROKEN_DEPMOD, 0o755);
        const before = (await sets()).length;

        const update = await c.kernelUpdate();
        const hookOutput = `${update.stdout}\n${update.stderr}`;
        expect(update.code, hookOutput).toBe(0); // kbackup never fails the update (ON_ERROR=warn)
        expect(hookOutput).toContain('initrd-modules-dep-empty');
        expect(hookOutput).toContain('initrd-modules-dropped');
        expect((await sets()).length).toBe(before + 1); // preinst kept the good set

        const r = await c.kbackup('check --json');
        expect(r.code).toBe(1);
        const report = parseJson<{ ok: boolean; problems: { code: string; message: string }[] }>(r, 'kbackup check --json');
        expect(report.ok).toBe(false);
        expect(codesOf(report.problems)).toEqual(expect.arrayContaining(['initrd-modules-dep-empty', 'initrd-modules-dropped']));
        const dropped = report.problems.find((p) => p.code === 'initrd-modules-dropped')!;
        expect(dropped.message).toMatch(/holds 0 module files, the previous image .*~~backup\d{12}.* held [1-9]\d{2,}/);

        const diff = await c.kbackup('diff --json');
        expect(diff.code).toBe(1);
        const d = parseJson<{ live: { moduleFiles: number; compression: string }; backup: { moduleFiles: number }; modules: { removed: string[] } }>(diff, 'kbackup diff --json');
        expect(d.live.moduleFiles).toBe(0);
        expect(d.live.compression).toBe(compression);
        expect(d.backup.moduleFiles).toBeGreaterThan(500);
        expect(d.modules.removed).toEqual(expect.arrayContaining(['ext4', 'virtio_blk', 'sd_mod', 'nvme']));
      });

      it('restoring the previous set clears the problem', async () => {
        const newest = (await sets()).filter((s) => s.version === version).sort((a, b) => (a.id < b.id ? 1 : -1))[0]!;
        const restore = await c.kbackup(`restore ${newest.id} --yes`);
        expect(restore.code, `${restore.stdout}\n${restore.stderr}`).toBe(0);
        const report = parseJson<{ problems: { code: string }[] }>(await c.kbackup('check --json'), 'kbackup check --json');
        expect(codesOf(report.problems)).not.toContain('initrd-modules-dep-empty');
        expect(codesOf(report.problems)).not.toContain('initrd-modules-dropped');
      });

      it('a changed config file and update-initramfs -u: the previous initrd is kept and kbackup diff names the file', async () => {
        // A sound kmod again, so only the configuration differs between the two images.
        await c.mustRun('rm -f /sbin/depmod && dpkg-divert --local --rename --remove /sbin/depmod');
        await c.mustRun(`depmod -a ${version}`);
        await c.mustRun(`update-initramfs -u -k ${version}`);
        const before = (await sets()).map((s) => s.id);

        c.writeFile(CONF, '# md arrays of host bar\nRESUME=none\n');
        const rebuild = await c.mustRun(`update-initramfs -u -k ${version}`);
        const after = await sets();
        const added = after.filter((s) => !before.includes(s.id));
        expect(added.map((s) => s.version), `${rebuild.stdout}\n${rebuild.stderr}`).toEqual([version]);

        const text = await c.kbackup('diff');
        expect(text.code, text.stderr).toBe(0);
        expect(text.stdout).toContain(`(${added[0]!.id})`);
        expect(text.stdout).toContain('changed: conf/conf.d/kbtest');
        expect(text.stdout).toContain('warning: initrd-config-changed');

        const json = parseJson<{ ok: boolean; backup: { id: string }; configs: { changed: string[] }; modules: { added: string[]; removed: string[] } }>(
          await c.kbackup(`diff ${added[0]!.id} --json`),
          'kbackup diff --json',
        );
        expect(json).toMatchObject({ ok: true, backup: { id: added[0]!.id }, configs: { changed: ['conf/conf.d/kbtest'] }, modules: { added: [], removed: [] } });
      });
    });
  }
}
