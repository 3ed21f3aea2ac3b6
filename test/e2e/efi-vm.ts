// Real GRUB under qemu + OVMF, booting a disk made from an e2e chroot (issue 11's trial boot).
//
//   await prepareEfiBoot(c)          installs the chroot's own grub-efi-amd64-bin (the .deb is cached),
//                                    lays out /boot/grub/x86_64-efi as grub-install would, builds the
//                                    EFI binary and puts the tiny init (TINY_INIT) into the tree
//   await buildDisk(c, file)         a GPT disk image of the chroot, made without loop devices:
//                                    partition 1 = the root ext4 (mke2fs -d, fixed UUID), 2 = the ESP (mtools)
//   await bootVm(file, { … })        boots it under qemu (TCG) + OVMF until the guest powers off;
//                                    returns the serial console text (also saved next to the disk)
//   readFromDisk(file, '/path')      a file of the root fs, read with debugfs (no mount)
//   copyFromDisk(file, dir, hostDir) a directory of the root fs (debugfs rdump)
//   splitBoots(console)              the console cut into one piece per kernel start
//
// The chroot's grub.cfg comes from the real update-grub with the harness's grub-probe stand-in:
// root=/dev/sda1 and `search --fs-uuid` for GRUB_PROBE_UUID. So the VM has one SATA disk (/dev/sda)
// whose partition 1 is the root ext4 with that UUID; the ESP is partition 2 (GPT entry numbers need
// not follow the disk order). /boot/grub/grubenv lives on that ext4, where GRUB's save_env writes it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { E2E_CACHE, hostRun, type Chroot, type RunResult, unmountAllUnder } from './harness';
import { withLock } from './harness/host';
import { startQemu } from './harness/qemu';

/** fs_uuid answered by test/e2e/fixtures/grub-probe: grub.cfg searches for it. */
export const GRUB_PROBE_UUID = '0f5e4c2a-6b1d-4e38-9a7c-2d1e5b3f4a10';
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const SECTOR = 512;
const ESP_START = 2048; // 1 MiB
const ESP_SECTORS = 65536; // 32 MiB
const ROOT_START = ESP_START + ESP_SECTORS;
const ROOT_OFFSET = ROOT_START * SECTOR;
/** Where the tiny init lives in the image; GRUB_CMDLINE_LINUX gets init=TINY_INIT. */
export const TINY_INIT = '/usr/local/sbin/kbtest-init';
/** Holds a number: how many more times the tiny init reboots instead of powering off. */
export const REBOOTS_FILE = '/kbtest-reboots';
/** When it exists, the tiny init also prints `kbackup status` after the boot record. */
export const STATUS_FILE = '/kbtest-status';

async function must(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await hostRun(file, args, { timeoutMs: options.timeoutMs ?? 600_000, input: options.input });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

// The init the VM runs instead of systemd (init=): records the boot with kbackup, prints what the
// test reads back from the console between KBTEST markers, then powers off (or reboots while
// REBOOTS_FILE holds a count above 0). initramfs-tools has already moved /proc, /sys, /dev, /run in.
const TINY_INIT_SCRIPT = `#!/bin/sh
# kbackup e2e: a tiny init that records the boot and powers the VM off (not part of kbackup).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LANG=C.UTF-8
export PATH LANG
[ -r /proc/cmdline ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
mount -o remount,rw /
echo "KBTEST-BOOT uname=$(uname -r) cmdline=$(cat /proc/cmdline)"
echo "KBTEST-GRUBENV-BEFORE $(grub-editenv /boot/grub/grubenv list | tr '\\n' ' ')"
/usr/sbin/kbackup boot-record
echo "KBTEST-BOOT-RECORD-EXIT $?"
# kbackup takes 10-20 s to start under TCG: status only where the test reads it.
if [ -e ${STATUS_FILE} ]; then
  echo "KBTEST-STATUS-BEGIN"
  /usr/sbin/kbackup status
  echo "KBTEST-STATUS-EXIT $?"
  echo "KBTEST-STATUS-END"
fi
echo "KBTEST-GRUBENV-AFTER $(grub-editenv /boot/grub/grubenv list | tr '\\n' ' ')"
n=$(cat ${REBOOTS_FILE} 2>/dev/null || echo 0)
if [ "$n" -gt 0 ] 2>/dev/null; then
  echo $((n - 1)) >${REBOOTS_FILE}
  sync
  mount -o remount,ro /
  echo "KBTEST-REBOOT"
  busybox reboot -f
else
  sync
  mount -o remount,ro /
  echo "KBTEST-POWEROFF"
  busybox poweroff -f
fi
sleep 600
`;

/** GRUB's early config, embedded in the EFI binary: find the root fs, then read its /boot/grub/grub.cfg. */
const EARLY_CFG = `search --no-floppy --fs-uuid --set=root ${GRUB_PROBE_UUID}
set prefix=($root)/boot/grub
`;

/**
 * The chroot's grub-common version, and the matching grub-efi-amd64-bin .deb plus, where it has
 * one (Debian 13), the grub-efi-amd64-unsigned it depends on for the modules; downloaded once with
 * the chroot's own apt and sources, cached in .cache/e2e/debs.
 */
async function grubEfiDebs(c: Chroot): Promise<string[]> {
  const version = (await c.mustRun("dpkg-query -W -f='${Version}' grub-common")).stdout.trim();
  const dir = path.join(E2E_CACHE, 'debs');
  fs.mkdirSync(dir, { recursive: true });
  const fileOf = (pkg: string) => path.join(dir, `${pkg}_${version.replace(/:/g, '%3a')}_amd64.deb`);
  const listFile = path.join(dir, `grub-efi-amd64_${version.replace(/:/g, '%3a')}.list`);
  if (fs.existsSync(listFile)) {
    const files = fs.readFileSync(listFile, 'utf8').split('\n').filter(Boolean).map(fileOf);
    if (files.every((f) => fs.existsSync(f))) return files;
  }
  await c.mustRun(`apt-get update -qq && cd /tmp && apt-get download -qq grub-efi-amd64-bin=${version}`, { timeoutMs: 900_000 });
  const depends = (await c.mustRun(`dpkg-deb -f /tmp/grub-efi-amd64-bin_${version.replace(/:/g, '%3a')}_amd64.deb Depends`)).stdout;
  const pkgs = ['grub-efi-amd64-bin', ...[...depends.matchAll(/\b(grub-efi-amd64-unsigned)\b/g)].map((m) => m[1]!)];
  if (pkgs.length > 1) await c.mustRun(`cd /tmp && apt-get download -qq grub-efi-amd64-unsigned=${version}`, { timeoutMs: 900_000 });
  for (const pkg of pkgs) {
    const inside = c.host(`/tmp/${path.basename(fileOf(pkg))}`);
    const tmp = `${fileOf(pkg)}.${process.pid}.tmp`;
    fs.copyFileSync(inside, tmp);
    fs.renameSync(tmp, fileOf(pkg));
    fs.rmSync(inside, { force: true });
  }
  fs.writeFileSync(`${listFile}.${process.pid}.tmp`, `${pkgs.join('\n')}\n`);
  fs.renameSync(`${listFile}.${process.pid}.tmp`, listFile);
  await c.run('apt-get clean');
  return pkgs.map(fileOf);
}

export interface EfiBoot {
  /** Host path of EFI/BOOT/BOOTX64.EFI. */
  efi: string;
}

/**
 * Installs the chroot's grub-efi-amd64-bin, copies its modules to /boot/grub/x86_64-efi (what
 * grub-install does), builds the EFI binary with grub-mkimage and writes the tiny init.
 */
export async function prepareEfiBoot(c: Chroot): Promise<EfiBoot> {
  const r = await c.installDeb(await grubEfiDebs(c));
  if (r.code !== 0) throw new Error(`dpkg -i grub-efi-amd64-bin failed:\n${r.stdout}\n${r.stderr}`);
  c.writeFile('/tmp/kbtest-early.cfg', EARLY_CFG);
  await c.mustRun(
    [
      'mkdir -p /boot/grub/x86_64-efi',
      // grub-install creates the environment block; GRUB's save_env only rewrites an existing one.
      '[ -e /boot/grub/grubenv ] || grub-editenv /boot/grub/grubenv create',
      'cp /usr/lib/grub/x86_64-efi/*.mod /usr/lib/grub/x86_64-efi/*.lst /boot/grub/x86_64-efi/',
      'grub-mkimage -O x86_64-efi -o /tmp/BOOTX64.EFI -p /boot/grub -c /tmp/kbtest-early.cfg part_gpt part_msdos ext2 search search_fs_uuid normal configfile echo',
    ].join(' && '),
  );
  const efi = path.join(c.work, 'BOOTX64.EFI');
  fs.copyFileSync(c.host('/tmp/BOOTX64.EFI'), efi);
  c.writeFile(TINY_INIT, TINY_INIT_SCRIPT, 0o755);
  return { efi };
}

/**
 * A GPT disk image of the chroot's tree. The chroot is unmounted while mke2fs reads it (its /proc,
 * /sys, /dev are the host's) and mounted again afterwards.
 */
export async function buildDisk(c: Chroot, boot: EfiBoot, file: string): Promise<void> {
  const du = await must('du', ['-s', '-B1M', '--one-file-system', c.root]);
  const treeMiB = Number(du.stdout.split(/\s/)[0]);
  const rootMiB = Math.ceil(treeMiB * 1.25) + 256;
  const totalSectors = ROOT_START + rootMiB * 2048 + 2048; // + room for the backup GPT
  fs.rmSync(file, { force: true });
  await must('truncate', ['-s', String(totalSectors * SECTOR), file]);
  const name = path.basename(file);
  await must('sfdisk', ['-q', file], {
    input: [
      'label: gpt',
      `${name}1 : start=${ROOT_START}, size=${rootMiB * 2048}, type=linux, name=root`,
      `${name}2 : start=${ESP_START}, size=${ESP_SECTORS}, type=uefi, name=ESP`,
      '',
    ].join('\n'),
  });
  const esp = `${file}@@${ESP_START * SECTOR}`;
  await must('mformat', ['-i', esp, '-T', String(ESP_SECTORS), '-h', '64', '-s', '32', '-v', 'ESP', '::']);
  await must('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT']);
  await must('mcopy', ['-i', esp, boot.efi, '::/EFI/BOOT/BOOTX64.EFI']);
  unmountChroot(c);
  try {
    await must('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-U', GRUB_PROBE_UUID, '-L', 'kbtestroot', '-d', c.root, '-E', `offset=${ROOT_OFFSET}`, file, `${rootMiB}M`]);
  } finally {
    await c.mount();
  }
}

/**
 * Unmounts the chroot's /proc, /sys, /dev. Through the real path as well: mountinfo lists real
 * paths, and the e2e cache may be reached through a symbolic link.
 */
export function unmountChroot(c: Chroot): void {
  unmountAllUnder(fs.realpathSync(c.root));
  c.unmount();
}

/** A file of the image's root fs (debugfs, no mount); undefined when it does not exist. */
export function readFromDisk(file: string, inside: string): string | undefined {
  const r = spawnSync('debugfs', ['-R', `cat ${inside}`, `${file}?offset=${ROOT_OFFSET}`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 || /File not found by ext2_lookup/.test(r.stderr)) return undefined;
  return r.stdout;
}

/** Copies a directory of the image's root fs into hostDir (debugfs rdump), replacing what was there. */
export async function copyFromDisk(file: string, inside: string, hostDir: string): Promise<void> {
  const parent = path.dirname(hostDir);
  const tmp = fs.mkdtempSync(path.join(parent, '.rdump-'));
  try {
    await must('debugfs', ['-R', `rdump ${inside} ${tmp}`, `${file}?offset=${ROOT_OFFSET}`]);
    const got = path.join(tmp, path.basename(inside));
    if (!fs.existsSync(got)) throw new Error(`debugfs rdump ${inside}: nothing copied`);
    fs.rmSync(hostDir, { recursive: true, force: true });
    fs.renameSync(got, hostDir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Console lines worth a time stamp (seconds since qemu started), for the test log and the report. */
const EVENT =
  /Welcome to GRUB|Loading Linux|KBTEST-BOOT |KBTEST-REBOOT|KBTEST-POWEROFF|KBTEST-LINKS|ALERT!|Rebooting automatically|Kernel panic|Reached target.*(Multi-User|Emergency)|emergency or rescue mode|login: |kbackup\[\d+\]|kbackup: /;

export interface VmRun {
  console: string;
  /** Lines matching EVENT with the second (since qemu started) the host first saw them. */
  events: { t: number; line: string }[];
  /** Where the console was saved. */
  consoleLog: string;
  seconds: number;
  /** The guest powered off (qemu exited by itself) before the timeout. */
  poweredOff: boolean;
  qemuStderr: string;
}

/**
 * Boots the disk under qemu (TCG) with OVMF until the guest powers off or timeoutMs passes. One VM at
 * a time on the machine (the harness's qemu lock, shared with bootQemu): two TCG guests on 2 cores
 * would each run at half speed, and the timeouts are set for one.
 */
export interface VmOptions {
  timeoutMs: number;
  label: string;
  /** A virtio-net NIC with this MAC on qemu's user network (DHCP gives it 10.0.2.15/24). */
  nicMac?: string;
}

export async function bootVm(file: string, options: VmOptions): Promise<VmRun> {
  return withLock('qemu', () => bootVmUnlocked(file, options));
}

async function bootVmUnlocked(file: string, options: VmOptions): Promise<VmRun> {
  const dir = path.dirname(file);
  const vars = path.join(dir, `${options.label}-OVMF_VARS.fd`);
  fs.copyFileSync(OVMF_VARS, vars);
  const consoleLog = path.join(dir, `${options.label}-console.log`);
  fs.rmSync(consoleLog, { force: true });
  const args = [
    '-machine', 'q35',
    '-accel', 'tcg',
    '-m', '1024',
    '-smp', '1',
    '-nodefaults',
    '-display', 'none',
    '-no-user-config',
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    '-drive', `file=${file},format=raw,if=none,id=hd0`,
    '-device', 'ide-hd,drive=hd0,bus=ide.0,bootindex=1',
    '-serial', `file:${consoleLog}`,
    '-monitor', 'none',
  ];
  if (options.nicMac) args.push('-nic', `user,model=virtio-net-pci,mac=${options.nicMac}`);
  const t0 = Date.now();
  const qemu = startQemu(args);
  const timer = setTimeout(qemu.kill, options.timeoutMs);
  const events: { t: number; line: string }[] = [];
  let seen = 0;
  const poll = () => {
    if (!fs.existsSync(consoleLog)) return;
    const text = fs.readFileSync(consoleLog, 'latin1');
    const lines = text.split('\n');
    lines.pop(); // an incomplete last line waits for the next poll
    for (const line of lines.slice(seen)) {
      if (EVENT.test(line)) events.push({ t: (Date.now() - t0) / 1000, line: line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim().slice(0, 160) });
    }
    seen = lines.length;
  };
  const poller = setInterval(poll, 250);
  let poweredOff = false;
  try {
    await qemu.done;
    poweredOff = Date.now() - t0 < options.timeoutMs;
  } finally {
    clearTimeout(timer);
    clearInterval(poller);
    poll();
    if (!qemu.exited()) qemu.kill();
  }
  const text = fs.existsSync(consoleLog) ? fs.readFileSync(consoleLog, 'latin1') : '';
  const seconds = (Date.now() - t0) / 1000;
  const timeline = events.map((e) => `  ${e.t.toFixed(1).padStart(6)} s  ${e.line}`).join('\n');
  process.stderr.write(`[e2e] qemu ${options.label}: ${seconds.toFixed(1)} s${poweredOff ? '' : ' (killed at the timeout)'}; console: ${consoleLog}\n${timeline}\n`);
  return { console: text.replace(/\r/g, ''), events, consoleLog, seconds, poweredOff, qemuStderr: qemu.stderr() };
}

export interface BootPiece {
  /** What GRUB said it loads ("Loading Linux 6.1.0-57-amd64 ..."), if it said so. */
  grubLoading: string;
  /** The KBTEST-BOOT line's uname -r and /proc/cmdline, when the boot reached the tiny init. */
  uname?: string;
  cmdline?: string;
  /** BOOT_IMAGE= from the command line. */
  bootImage?: string;
  text: string;
}

/** The console cut at each "Loading Linux" of GRUB: one piece per kernel GRUB started. */
export function splitBoots(text: string): BootPiece[] {
  const starts = [...text.matchAll(/Loading Linux [^\n]*/g)];
  return starts.map((m, i) => {
    const end = i + 1 < starts.length ? starts[i + 1]!.index : text.length;
    const piece = text.slice(m.index, end);
    const boot = /KBTEST-BOOT uname=(\S+) cmdline=([^\n]*)/.exec(piece);
    return {
      grubLoading: m[0].trim(),
      uname: boot?.[1],
      cmdline: boot?.[2]?.trim(),
      bootImage: boot ? /(?:^|\s)BOOT_IMAGE=(\S+)/.exec(boot[2]!)?.[1] : undefined,
      text: piece,
    };
  });
}

/** The text between KBTEST-STATUS-BEGIN and KBTEST-STATUS-END of one boot. */
export function statusOf(piece: BootPiece): string {
  const m = /KBTEST-STATUS-BEGIN\n([\s\S]*?)KBTEST-STATUS-END/.exec(piece.text);
  return m?.[1] ?? '';
}

/** The last lines of a console log, for a failure message. */
export function consoleTail(run: VmRun, lines = 80): string {
  return `--- console (${run.consoleLog}), last ${lines} lines\n${run.console.split('\n').slice(-lines).join('\n')}\n--- qemu stderr\n${run.qemuStderr}`;
}
