// The new-ABI update path on a real Debian 12 or 13: since September 2025 every kernel upload has its
// own ABI, so a security update installs linux-image-NEW beside linux-image-OLD (bookworm: 6.1.0-50 →
// 6.1.0-57 from bookworm-security; trixie: 6.12.N+deb13 → 6.12.M+deb13). Nothing of NEW existed
// before, so there is no same-version backup to judge the new initrd against: kbackup judges it
// against the previous default kernel's (the running kernel's on a real machine; under a chroot the
// running kernel is the host's, so the previous default is the baseline here).
//
// Two ways the new initrd comes out broken, each first proven unbootable under qemu (root on
// /dev/vda, a virtio disk: the initramfs stops at "ALERT! /dev/vda does not exist" while the old
// kernel and initrd reach userspace on the same disk), then flagged by the postinst hook during the
// update and by `kbackup check --json`, naming both versions:
//   (i)  a broken depmod (exits 0, writes empty indexes): modules.dep is empty, no modules load;
//   (ii) an initramfs-tools hook deletes the disk drivers from the image: modules.dep is intact
//        (mkinitramfs runs depmod on the image after the hooks), the root disk's driver is gone.
// The tests of one suite share one chroot and run in order; new-abi.<suite>.test.ts runs them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootQemu,
  type BootResult,
  type Chroot,
  createChroot,
  grubEntries,
  grubLinuxPaths,
  type KernelDebs,
  makeRootDisk,
  newAbiPair,
  ROOT_MISSING,
  rootAppend,
  type Suite,
  SUITE_NUMBER,
  USERSPACE_MARKER,
} from './harness';

const BROKEN_DEPMOD = fs.readFileSync(path.join(__dirname, '../fixtures/initrd/depmod-empty.sh'));
/** Runs last among initramfs-tools' hooks; deletes the drivers of the usual root disks from the image. */
const DROP_DISK_DRIVERS_HOOK = `#!/bin/sh
# kbackup e2e: a hook gone wrong. It deletes the drivers of the usual root disks (virtio, NVMe, SATA,
# SCSI, Xen, Hyper-V) from the image; mkinitramfs then runs depmod on what is left, so modules.dep is
# intact and simply no longer lists them.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0;; esac
find "\${DESTDIR}/lib/modules" "\${DESTDIR}/usr/lib/modules" \\( -name 'virtio_blk.ko*' -o -name 'virtio_scsi.ko*' -o -name 'nvme.ko*' -o -name 'nvme-core.ko*' \\
  -o -name 'nvme_core.ko*' -o -name 'sd_mod.ko*' -o -name 'ahci.ko*' -o -name 'libahci.ko*' -o -name 'xen-blkfront.ko*' -o -name 'hv_storvsc.ko*' \\) -delete 2>/dev/null
exit 0
`;
const HOOK_PATH = '/etc/initramfs-tools/hooks/zz-kbtest-drop-disk-drivers';

interface Problem {
  code: string;
  message: string;
  severity?: string;
}
interface CheckReport {
  ok: boolean;
  predictedOrder: string[];
  problems: Problem[];
}

function parseJson<T>(r: { code: number; stdout: string; stderr: string }, what: string): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what} did not print JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** dpkg --compare-versions on the host. */
function versionGreater(a: string, b: string): boolean {
  return spawnSync('dpkg', ['--compare-versions', a, 'gt', b]).status === 0;
}

export function newAbiTests(suite: Suite): void {
  let c: Chroot;
  let oldK: KernelDebs;
  let newK: KernelDebs;
  let disk: string;
  let bootDir: string;

  /** Copies a kernel's live vmlinuz and initrd out of the chroot and boots them with root on /dev/vda. */
  async function bootWithRootDisk(version: string, tag: string): Promise<BootResult> {
    const kernel = path.join(bootDir, `vmlinuz-${version}-${tag}`);
    const initrd = path.join(bootDir, `initrd.img-${version}-${tag}`);
    fs.copyFileSync(c.host(`/boot/vmlinuz-${version}`), kernel);
    fs.copyFileSync(c.host(`/boot/initrd.img-${version}`), initrd);
    try {
      return await bootQemu({
        kernel,
        initrd,
        disk,
        append: rootAppend(),
        until: (text) => text.includes(USERSPACE_MARKER) || ROOT_MISSING.test(text),
        timeoutMs: 360_000,
      });
    } finally {
      fs.rmSync(kernel, { force: true });
      fs.rmSync(initrd, { force: true });
    }
  }

  /** Proves the live initrd of NEW does not boot: the kernel runs its /init, which never finds /dev/vda. */
  async function expectUnbootable(tag: string): Promise<void> {
    const boot = await bootWithRootDisk(newK.version, tag);
    expect(boot.console, boot.tail).toContain(`Linux version ${newK.version} `);
    expect(boot.console, boot.tail).toMatch(ROOT_MISSING);
    expect(boot.console, boot.tail).not.toContain(USERSPACE_MARKER);
  }

  /** Removes NEW (image and meta package) so the next install is a fresh new-ABI install again. */
  async function purgeNew(): Promise<void> {
    const r = await c.run(`dpkg --purge ${newK.metaPackage} ${newK.imagePackage}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(c.exists(`/boot/vmlinuz-${newK.version}`)).toBe(false);
    // kbackup's sets (none were made: a fresh install has nothing to back up) and the old kernel stay.
    expect(c.exists(`/boot/vmlinuz-${oldK.version}`)).toBe(true);
  }

  /** The update itself: dpkg -i of NEW's image and meta package; it must succeed (ON_ERROR=warn). */
  async function installNew(): Promise<string> {
    const r = await c.installKernel(newK);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.code, out).toBe(0);
    expect(await c.packageVersion(newK.imagePackage)).toBe(newK.packageVersion);
    return out;
  }

  async function check(): Promise<{ code: number; report: CheckReport; raw: string }> {
    const r = await c.kbackup('check --json');
    return { code: r.code, report: parseJson<CheckReport>(r, 'kbackup check --json'), raw: `${r.stdout}\n${r.stderr}` };
  }

  /** The problems of the flagged initrd name both kernel versions (the new image and its baseline). */
  function expectNamesBothVersions(text: string, what: string): void {
    expect(text, `${what} names the new kernel`).toContain(newK.version);
    expect(text, `${what} names the baseline, the previous default kernel`).toContain(oldK.version);
  }

  beforeAll(async () => {
    const pair = await newAbiPair(suite);
    oldK = pair.old;
    newK = pair.new;
    expect(versionGreater(newK.packageVersion, oldK.packageVersion), `${newK.packageVersion} > ${oldK.packageVersion}`).toBe(true);
    // `/` of a chroot is not in its mountinfo, so kbackup's root-driver check (the running system's
    // disk) is skipped here: what flags (ii) is the comparison with the old kernel's image.
    c = await createChroot({ suite, label: `new-abi-${suite}` });
    expect(c.kernel.version).toBe(oldK.version);
    bootDir = fs.mkdtempSync(path.join(c.work, 'qemu-'));
    disk = await makeRootDisk(c, path.join(bootDir, 'root.img'));
  });

  afterAll(async () => {
    await c?.dispose();
  });

  describe(`Debian ${SUITE_NUMBER[suite]} (${suite}): a new-ABI security update installs beside the old kernel`, () => {
    it('0. the point release kernel and its initrd boot from the virtio disk /dev/vda to userspace (the yardstick for the broken ones)', async () => {
      const boot = await bootWithRootDisk(oldK.version, 'old');
      expect(boot.console, boot.tail).toContain(`Linux version ${oldK.version} `);
      expect(boot.console, boot.tail).toContain(USERSPACE_MARKER);
      expect(boot.console, boot.tail).not.toMatch(ROOT_MISSING);
    });

    it(`1. the update to the security kernel succeeds quietly, GRUB boots the new kernel first and keeps the old one listed, and check finds nothing wrong`, async () => {
      const before = Object.keys(c.bootFiles());
      const out = await installNew();
      // A fresh install of a new ABI: nothing to back up, and nothing for kbackup to say.
      expect(out).not.toMatch(/kbackup: (warning|error)/i);
      expect(out).not.toMatch(/initrd-[a-z-]+/);
      expect(Object.keys(c.bootFiles()).filter((n) => n.includes('~~backup') && !before.includes(n))).toEqual([]);

      const cfg = c.readFile('/boot/grub/grub.cfg');
      const entries = grubEntries(cfg);
      expect(entries[0]).toMatchObject({ linux: `/boot/vmlinuz-${newK.version}`, initrd: [`/boot/initrd.img-${newK.version}`] });
      const order = grubLinuxPaths(cfg);
      expect(order.indexOf(`/boot/vmlinuz-${oldK.version}`)).toBeGreaterThan(0);

      const { code, report, raw } = await check();
      expect(report.predictedOrder).toEqual(order);
      expect(report.problems, raw).toEqual([]);
      expect(report.ok).toBe(true);
      expect(code).toBe(0);
    });

    it('2 (i). with a broken depmod the new initrd does not boot, and the postinst hook and check flag it against the old kernel', async () => {
      await purgeNew();
      await c.mustRun('dpkg-divert --local --rename --divert /sbin/depmod.real --add /sbin/depmod');
      c.writeFile('/sbin/depmod', BROKEN_DEPMOD, 0o755);
      let out: string;
      try {
        out = await installNew();
      } finally {
        await c.mustRun('rm -f /sbin/depmod && dpkg-divert --local --rename --remove /sbin/depmod');
      }
      const dep = c.host(`/lib/modules/${newK.version}/modules.dep`);
      expect(fs.statSync(dep).size, 'the scenario: depmod left an empty modules.dep').toBe(0);
      await expectUnbootable('depmod-empty');

      // kbackup's answer, at update time…
      expect(out).toContain('initrd-modules-dep-empty');
      expectNamesBothVersions(out.split('\n').filter((l) => /initrd-/.test(l) || /kbackup/.test(l)).join('\n'), 'the postinst hook');
      // …and in check.
      const { code, report, raw } = await check();
      expect(code, raw).toBe(1);
      expect(report.ok).toBe(false);
      const initrd = report.problems.filter((p) => p.code.startsWith('initrd-'));
      expect(initrd.map((p) => p.code)).toEqual(expect.arrayContaining(['initrd-modules-dep-empty']));
      expect(initrd.map((p) => p.code).some((code) => code === 'initrd-modules-dropped' || code === 'initrd-root-driver-missing'), raw).toBe(true);
      expectNamesBothVersions(initrd.map((p) => p.message).join('\n'), 'check --json');
    });

    it('2 (ii). with the disk drivers deleted from the image (modules.dep intact) the new initrd does not boot, and the hook and check flag it', async () => {
      // A sound depmod again: rebuild the indexes the broken one emptied, then a fresh install of NEW.
      await purgeNew();
      c.writeFile(HOOK_PATH, DROP_DISK_DRIVERS_HOOK, 0o755);
      let out: string;
      try {
        out = await installNew();
      } finally {
        fs.rmSync(c.host(HOOK_PATH), { force: true });
      }
      const dep = c.host(`/lib/modules/${newK.version}/modules.dep`);
      expect(fs.statSync(dep).size, 'modules.dep of the new kernel is sound').toBeGreaterThan(10_000);
      const listing = await c.mustRun(`lsinitramfs /boot/initrd.img-${newK.version}`);
      const files = listing.stdout.split('\n');
      expect(files.some((f) => /\/modules\.dep$/.test(f)), 'the image has a modules.dep').toBe(true);
      expect(files.filter((f) => /\.ko(\.[a-z]+)?$/.test(f)).length, 'the image still holds most modules').toBeGreaterThan(100);
      expect(files.some((f) => /\/virtio_blk\.ko/.test(f)), 'virtio_blk is gone from the image').toBe(false);
      await expectUnbootable('no-disk-driver');

      // The image lost storage drivers the old kernel's image held (initrd-modules-dropped); on a real
      // machine whose disk is one of them, initrd-root-driver-missing would say so too.
      expect(out).toMatch(/initrd-modules-dropped|initrd-root-driver-missing/);
      expectNamesBothVersions(out.split('\n').filter((l) => /initrd-/.test(l) || /kbackup/.test(l)).join('\n'), 'the postinst hook');
      const { code, report, raw } = await check();
      expect(code, raw).toBe(1);
      const initrd = report.problems.filter((p) => p.code.startsWith('initrd-'));
      expect(initrd.map((p) => p.code).some((x) => x === 'initrd-modules-dropped' || x === 'initrd-root-driver-missing'), raw).toBe(true);
      expect(initrd.map((p) => p.code), raw).not.toContain('initrd-modules-dep-empty');
      expect(initrd.map((p) => p.message).join('\n')).toContain('virtio_blk');
      expectNamesBothVersions(initrd.map((p) => p.message).join('\n'), 'check --json');
    });
  });
}
