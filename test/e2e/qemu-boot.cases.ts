// The point of a backup is that it boots. After a same-name kernel update, the backup set holds the
// archive's original kernel and the initrd that was built for it; boot exactly those two files
// under qemu (software emulation: CI has no KVM) until the kernel hands over to the initramfs.
// qemu-boot.<suite>.test.ts runs it on Debian 12 and 13.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupSuffixes,
  bootQemu,
  type Chroot,
  createChroot,
  extractFromDeb,
  INITRAMFS_BANNER,
  KERNEL_HANDOVER,
  sha256File,
  type Suite,
  SUITE_NUMBER,
} from './harness';

export function qemuBootTests(suite: Suite): void {
  let c: Chroot;
  let work: string;
  let kernel = '';
  let initrd = '';
  let originalSha = '';

  beforeAll(async () => {
    c = await createChroot({ suite, label: `qemu-boot-${suite}` });
    const V = c.kernel.version;
    // The initrd the archive kernel was booted with before the update.
    const initrdBefore = c.sha256(`/boot/initrd.img-${V}`);
    const u = await c.kernelUpdate();
    expect(u.code, `${u.stdout}\n${u.stderr}`).toBe(0);
    const suffix = backupSuffixes(fs.readdirSync(c.host('/boot')), V);
    expect(suffix.length).toBe(1);
    // Copy the set out of the chroot: the boot must not depend on the chroot's mounts.
    work = fs.mkdtempSync(path.join(c.work, 'qemu-'));
    kernel = path.join(work, `kernel-${V}${suffix[0]}`);
    initrd = path.join(work, `initrd.img-${V}${suffix[0]}`);
    fs.copyFileSync(c.host(`/boot/kernel-${V}${suffix[0]}`), kernel);
    fs.copyFileSync(c.host(`/boot/initrd.img-${V}${suffix[0]}`), initrd);
    expect(sha256File(initrd)).toBe(initrdBefore);
    const original = path.join(work, 'vmlinuz-from-archive');
    await extractFromDeb(c.kernel.imageDeb, `/boot/vmlinuz-${V}`, original);
    originalSha = sha256File(original);
  });

  afterAll(async () => {
    await c?.dispose();
  });

  describe(`Debian ${SUITE_NUMBER[suite]} (${suite})`, () => {
    it('7. the backed-up kernel and initrd boot under qemu into the initramfs', async () => {
      // The backup is the archive's kernel, not the (re-packed) update.
      expect(sha256File(kernel)).toBe(originalSha);
      const boot = await bootQemu({
        kernel,
        initrd,
        // No root= device exists: the initramfs starts, looks for it, and (panic=-1) reboots, which
        // -no-reboot turns into qemu exiting. We only need to see the hand-over and the banner.
        append: 'console=ttyS0 panic=-1 loglevel=7',
        until: (text) => {
          const handover = text.indexOf(KERNEL_HANDOVER);
          return handover >= 0 && INITRAMFS_BANNER.test(text.slice(handover));
        },
        timeoutMs: 240_000,
      });
      const text = boot.console;
      expect(text, boot.tail).toContain(`Linux version ${c.kernel.version} `);
      expect(text, boot.tail).toContain(KERNEL_HANDOVER);
      expect(text.slice(text.indexOf(KERNEL_HANDOVER)), boot.tail).toMatch(INITRAMFS_BANNER);
      // The kernel unpacked the initrd: a broken or truncated one fails before /init runs.
      expect(text, boot.tail).not.toMatch(/Initramfs unpacking failed|VFS: Unable to mount root fs/);
    });
  });
}
