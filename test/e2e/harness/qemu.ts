// Booting a kernel and initrd under qemu (TCG: CI has no KVM), one VM at a time across processes.
//
//   const disk = await makeRootDisk(c, path.join(c.work, 'root.img'));   // ext4, /sbin/init prints USERSPACE_MARKER
//   const boot = await bootQemu({ kernel, initrd, disk, append: rootAppend(), until: (t) => … });
//   boot.console  the serial console's text; boot.seconds; boot.exited (qemu ended on its own)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Chroot } from './chroot';
import { hostMustRun, log, withLock } from './host';

/** Printed by the kernel when it runs the initramfs' /init (pr_info, shown at the default loglevel). */
export const KERNEL_HANDOVER = 'Run /init as init process';
/** Printed by initramfs-tools' /init: its banner, then its first stage. */
export const INITRAMFS_BANNER = /Loading, please wait\.\.\.|Begin: /;
/** Printed by the root disk's /sbin/init: the initrd found the disk, mounted it and handed over. */
export const USERSPACE_MARKER = 'KBTEST: userspace reached on the root disk';
/** initramfs-tools' answer when the root device never appears (e.g. no virtio_blk in the image). */
export const ROOT_MISSING = /ALERT!\s+\/dev\/vda does not exist/;

export interface BootOptions {
  kernel: string;
  initrd: string;
  /** A raw disk image attached as virtio /dev/vda (opened read-only through a snapshot). */
  disk?: string;
  append: string;
  /** Stop as soon as the console's text satisfies this (the VM is then killed). */
  until?: (text: string) => boolean;
  timeoutMs?: number;
  memoryMb?: number;
  /** Where the serial console is written (default: next to the kernel). */
  consoleLog?: string;
}

export interface BootResult {
  console: string;
  seconds: number;
  /** qemu ended by itself (poweroff, panic with -no-reboot) rather than being stopped. */
  exited: boolean;
  stderr: string;
  /** The last lines of the console and qemu's stderr, for assertion messages. */
  tail: string;
}

/** The kernel command line for a root file system on /dev/vda that the initrd must find. */
export function rootAppend(extra = ''): string {
  // rootdelay: how long initramfs-tools waits for /dev/vda before its ALERT (default 180 s);
  // panic=-1 (kernel) and panic=… (initramfs-tools) end in a reboot, which -no-reboot turns into an exit.
  return `console=ttyS0 root=/dev/vda ro rootdelay=20 panic=-1 loglevel=7 ${extra}`.trim();
}

/** A qemu started by startQemu: its own process group, so that a kill takes every thread and child. */
export interface QemuProcess {
  /** Whether qemu has ended (by itself, or killed). */
  exited(): boolean;
  /** What qemu wrote on stderr so far (and why it could not start, if it could not). */
  stderr(): string;
  /** Settles when qemu has ended. */
  done: Promise<void>;
  /** SIGKILL to the group; nothing if it is gone. */
  kill(): void;
}

/**
 * Starts qemu-system-x86_64 with `args` (stdin and stdout closed, stderr kept). Until it ends, this
 * process's own exit kills it too, so no VM outlives a test run that was stopped.
 */
export function startQemu(args: readonly string[], options: { nice?: boolean } = {}): QemuProcess {
  const command = options.nice ? ['nice', '-n', '10', 'qemu-system-x86_64'] : ['qemu-system-x86_64'];
  const qemu = spawn(command[0]!, [...command.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  let exited = false;
  qemu.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const kill = () => {
    try {
      process.kill(-qemu.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', kill);
  const done = new Promise<void>((resolve) => {
    const end = () => {
      exited = true;
      process.removeListener('exit', kill);
      resolve();
    };
    qemu.on('exit', end);
    qemu.on('error', (e) => {
      stderr += String(e);
      end();
    });
  });
  return { exited: () => exited, stderr: () => stderr, done, kill };
}

/** Boots under qemu (one VM at a time on this machine: the lock is shared by every e2e process). */
export async function bootQemu(options: BootOptions): Promise<BootResult> {
  return withLock('qemu', () => bootUnlocked(options));
}

async function bootUnlocked(options: BootOptions): Promise<BootResult> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const consoleLog = options.consoleLog ?? path.join(path.dirname(options.kernel), `console-${path.basename(options.kernel)}-${Date.now()}.log`);
  fs.rmSync(consoleLog, { force: true });
  const args = ['-nographic', '-no-reboot', '-m', String(options.memoryMb ?? 1024), '-smp', '1', '-accel', 'tcg'];
  args.push('-kernel', options.kernel, '-initrd', options.initrd, '-append', options.append);
  if (options.disk) args.push('-drive', `file=${options.disk},if=virtio,format=raw,snapshot=on`);
  args.push('-serial', `file:${consoleLog}`, '-monitor', 'none');
  const t0 = Date.now();
  const qemu = startQemu(args, { nice: true });
  const read = () => (fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'latin1') : '');
  let stoppedByUs = false;
  try {
    while (Date.now() - t0 < timeoutMs && !qemu.exited()) {
      if (options.until?.(read())) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    if (!qemu.exited()) {
      stoppedByUs = true;
      qemu.kill();
    }
    await qemu.done;
  }
  const text = read();
  const seconds = (Date.now() - t0) / 1000;
  log(`qemu ${path.basename(options.kernel)}: ${seconds.toFixed(1)} s${stoppedByUs ? '' : ' (exited)'}`);
  const stderr = qemu.stderr();
  return { console: text, seconds, exited: !stoppedByUs, stderr, tail: `${text.split('\n').slice(-40).join('\n')}\n--- qemu stderr\n${stderr}` };
}

/**
 * A small ext4 disk image whose /sbin/init prints USERSPACE_MARKER and powers off: busybox and the
 * libraries it needs, copied from the chroot. Reaching it proves the initrd found /dev/vda,
 * loaded what the disk and its file system need, mounted it and switched root.
 */
export async function makeRootDisk(c: Chroot, file: string): Promise<string> {
  const tree = `${file}.tree`;
  fs.rmSync(tree, { recursive: true, force: true });
  for (const d of ['sbin', 'bin', 'proc', 'sys', 'dev', 'etc']) fs.mkdirSync(path.join(tree, d), { recursive: true });
  const ldd = await c.run('ldd /bin/busybox');
  const libs = ldd.code === 0 ? [...ldd.stdout.matchAll(/(\/\S+\.so[^\s]*)/g)].map((m) => m[1]!) : [];
  for (const inside of ['/bin/busybox', ...libs]) {
    const dest = path.join(tree, inside);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(fs.realpathSync(c.host(inside)), dest);
    fs.chmodSync(dest, 0o755);
  }
  // /lib64 and /lib are symlinks into /usr on merged-/usr systems; the loader is asked for by its full path.
  fs.writeFileSync(path.join(tree, 'sbin/init'), `#!/bin/busybox sh\necho "${USERSPACE_MARKER}"\n/bin/busybox poweroff -f\n`, { mode: 0o755 });
  fs.rmSync(file, { force: true });
  await hostMustRun('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'kbtestroot', '-d', tree, file, '64M']);
  fs.rmSync(tree, { recursive: true, force: true });
  return file;
}
