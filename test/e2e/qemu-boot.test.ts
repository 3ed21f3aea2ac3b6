// The point of a backup is that it boots. After a same-name kernel update, the backup set holds the
// archive's original kernel and the initrd that was built for it; boot exactly those two files
// under qemu (software emulation: CI has no KVM) until the kernel hands over to the initramfs.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backupSuffixes, type Chroot, createChroot, extractFromDeb, sha256File } from './harness';

const BOOT_TIMEOUT_MS = 240_000;
/** Printed by the kernel when it runs the initramfs' /init (pr_info, shown at the default loglevel). */
const KERNEL_HANDOVER = 'Run /init as init process';
/** Printed by initramfs-tools' /init: its banner, then its first stage. */
const INITRAMFS_BANNER = /Loading, please wait\.\.\.|Begin: /;

let c: Chroot;
let work: string;
let kernel = '';
let initrd = '';
let originalSha = '';

beforeAll(async () => {
  c = await createChroot({ label: 'qemu-boot' });
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

it('7. the backed-up kernel and initrd boot under qemu into the initramfs', async () => {
  // The backup is the archive's kernel, not the (re-packed) update.
  expect(sha256File(kernel)).toBe(originalSha);
  const consoleLog = path.join(work, 'console.log');
  const args = [
    '-nographic',
    '-no-reboot',
    '-m',
    '1024',
    '-smp',
    '1',
    '-accel',
    'tcg',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    // No root= device exists: the initramfs starts, looks for it, and (panic=-1) reboots, which
    // -no-reboot turns into qemu exiting. We only need to see the hand-over and the banner.
    '-append',
    'console=ttyS0 panic=-1 loglevel=7',
    '-serial',
    `file:${consoleLog}`,
    '-monitor',
    'none',
  ];
  const t0 = Date.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let qemuErr = '';
  qemu.stderr!.on('data', (d: Buffer) => (qemuErr += d.toString()));
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => {
    qemu.on('exit', () => {
      exited = true;
      resolve();
    });
    qemu.on('error', (e) => {
      qemuErr += String(e);
      exited = true;
      resolve();
    });
  });
  let text = '';
  try {
    while (Date.now() - t0 < BOOT_TIMEOUT_MS) {
      text = fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'latin1') : '';
      const handover = text.indexOf(KERNEL_HANDOVER);
      if (handover >= 0 && INITRAMFS_BANNER.test(text.slice(handover))) break;
      if (exited) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    if (!exited) {
      try {
        process.kill(-qemu.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await exitPromise;
  }
  text = fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'latin1') : '';
  process.stderr.write(`[e2e] qemu: ${((Date.now() - t0) / 1000).toFixed(1)} s to the initramfs banner\n`);
  const lastLines = `${text.split('\n').slice(-30).join('\n')}\n--- qemu stderr\n${qemuErr}`;
  expect(text, lastLines).toContain(`Linux version ${c.kernel.version} `);
  expect(text, lastLines).toContain(KERNEL_HANDOVER);
  expect(text.slice(text.indexOf(KERNEL_HANDOVER)), lastLines).toMatch(INITRAMFS_BANNER);
  // The kernel unpacked the initrd: a broken or truncated one fails before /init runs.
  expect(text, lastLines).not.toMatch(/Initramfs unpacking failed|VFS: Unable to mount root fs/);
});
