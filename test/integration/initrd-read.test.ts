// readInitrd on real images built here (a cpio of a temp tree, compressed as mkinitramfs does, with an
// uncompressed early-microcode cpio prepended), listed by the real lsinitramfs; and rootDriverNeeds on
// fake /proc + /sys trees shaped like a virtio VM, an md RAID-1 on AHCI and LUKS+LVM on NVMe.
//
// Needs lsinitramfs (Debian: initramfs-tools-core), cpio, zstd, gzip, xz and lz4 on the host.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDiff } from '../../src/commands/diff';
import { UsageError } from '../../src/core/model/errors';
import { readInitrd } from '../../src/core/io/initrd-image';
import { rootDriverNeeds } from '../../src/core/io/root-drivers';
import { assessInitrd, listInitrdBackups } from '../../src/core/ops/initrd';
import type { MachinePaths, World } from '../../src/core/world';
import { compareInitrd, diffInitrd } from '../../src/core/model/initrd-health';
import { REAL_MACHINE, realExec } from '../../src/world';

const REQUIRED_TOOLS = ['lsinitramfs', 'cpio', 'zstd', 'gzip', 'xz', 'lz4'] as const;
const VERSION = '6.1.0-99-amd64';

function world(root = '/', exec: World['exec'] = realExec): World {
  const messages: string[] = [];
  return {
    root,
    configPath: path.join(root, 'etc/default/kbackup'),
    now: () => new Date('2026-11-22T20:40:00Z'),
    uname: () => VERSION,
    log: { info: (m) => messages.push(m), warn: (m) => messages.push(m), error: (m) => messages.push(m), debug: (m) => messages.push(m) },
    env: {},
    exec,
    machine: REAL_MACHINE,
    tmpdir: os.tmpdir(),
  };
}

function sh(script: string, cwd?: string): void {
  const r = spawnSync('sh', ['-c', script], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

let work: string;

const TREE: Record<string, string> = {
  [`usr/lib/modules/${VERSION}/kernel/drivers/block/virtio_blk.ko`]: 'module',
  [`usr/lib/modules/${VERSION}/kernel/drivers/nvme/host/nvme.ko.xz`]: 'module',
  [`usr/lib/modules/${VERSION}/kernel/fs/ext4/ext4.ko.zst`]: 'module',
  [`usr/lib/modules/${VERSION}/kernel/drivers/md/dm-crypt.ko`]: 'module',
  [`usr/lib/modules/${VERSION}/modules.dep`]: 'kernel/fs/ext4/ext4.ko.zst:\nkernel/drivers/block/virtio_blk.ko:\n',
  'conf/initramfs.conf': 'MODULES=most\nCOMPRESS=zstd\n',
  'conf/conf.d/resume': 'RESUME=none\n',
  'etc/mdadm/mdadm.conf': 'HOMEHOST <system>\nARRAY /dev/md/0 metadata=1.2 UUID=0a1b2c3d:00000000:00000000:00000000 name=foo:0\n',
  'etc/mdadm/mdadm.conf.tmp': 'leftover\n',
  'etc/modprobe.d/odd [name]*.conf': 'options dm_mod use_blk_mq=1\n',
  'cryptroot/crypttab': 'root_crypt UUID=1234 none luks,discard\n',
  'etc/ld.so.cache': 'regenerated every build\n',
  init: '#!/bin/sh\n',
};

function makeTree(dir: string, overrides: Record<string, string> = {}): void {
  for (const [rel, content] of Object.entries({ ...TREE, ...overrides })) {
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  fs.symlinkSync('usr/lib', path.join(dir, 'lib'));
}

const COMPRESSORS = {
  zstd: 'zstd -q -19 -T0',
  gzip: 'gzip -n -9',
  xz: 'xz --check=crc32',
  lz4: 'lz4 -q -9 -l',
} as const;

/** An image as mkinitramfs writes it: early cpio (uncompressed) + main cpio compressed. */
function makeImage(name: string, compression: keyof typeof COMPRESSORS, options: { early?: boolean; overrides?: Record<string, string> } = {}): string {
  const tree = path.join(work, `${name}.tree`);
  makeTree(tree, options.overrides);
  const image = path.join(work, name);
  sh(`find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | ${COMPRESSORS[compression]} > '${image}.main'`, tree);
  if (options.early ?? true) {
    const early = path.join(work, `${name}.early-tree`);
    fs.mkdirSync(path.join(early, 'kernel/x86/microcode'), { recursive: true });
    fs.writeFileSync(path.join(early, 'kernel/x86/microcode/GenuineIntel.bin'), 'microcode'.repeat(100));
    sh(`find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > '${image}.early'`, early);
    sh(`cat '${image}.early' '${image}.main' > '${image}' && rm '${image}.early' '${image}.main'`);
  } else {
    fs.renameSync(`${image}.main`, image);
  }
  return image;
}

beforeAll(() => {
  const missing = REQUIRED_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) {
    throw new Error(`initrd integration tests need ${missing.join(', ')} on the host (apt-get install initramfs-tools-core cpio zstd xz-utils lz4)`);
  }
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-initrd-test-'));
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('readInitrd on real images', () => {
  for (const compression of Object.keys(COMPRESSORS) as (keyof typeof COMPRESSORS)[]) {
    it(`lists a ${compression} image behind an early microcode cpio and hashes its config files`, async () => {
      const image = makeImage(`initrd.img-${VERSION}-${compression}`, compression);
      const s = await readInitrd(world(), image);
      expect(s.error).toBeUndefined();
      expect(s.tool).toBe('kbackup');
      expect(s.compression).toBe(compression);
      expect(s.earlyArchives).toBe(1);
      expect(s.kernelVersions).toEqual([VERSION]);
      expect(s.modules).toEqual(['dm_crypt', 'ext4', 'nvme', 'virtio_blk']);
      expect(s.moduleFiles).toBe(4);
      expect(s.modulesDep).toEqual({ [VERSION]: TREE[`usr/lib/modules/${VERSION}/modules.dep`]!.length });
      expect(Object.keys(s.configs).sort()).toEqual(['conf/conf.d/resume', 'conf/initramfs.conf', 'cryptroot/crypttab', 'etc/mdadm/mdadm.conf', 'etc/modprobe.d/odd [name]*.conf']);
      for (const [p, fact] of Object.entries(s.configs)) {
        expect(fact, p).toEqual({ size: TREE[p]!.length, sha256: sha256(TREE[p]!) });
      }
    });
  }

  it('reads an image without early cpio, and finds the main archive offset from the headers alone', async () => {
    const image = makeImage('plain-gzip', 'gzip', { early: false });
    const s = await readInitrd(world(), image);
    expect(s.error).toBeUndefined();
    expect([s.earlyArchives, s.compression]).toEqual([0, 'gzip']);
    expect(s.configs['etc/mdadm/mdadm.conf']?.sha256).toBe(sha256(TREE['etc/mdadm/mdadm.conf']!));
  });

  it('reads an uncompressed image (early cpio + plain cpio): the last archive is the main one', async () => {
    const tree = path.join(work, 'plain-tree');
    makeTree(tree);
    const early = path.join(work, 'plain-early-tree');
    fs.mkdirSync(path.join(early, 'kernel/x86/microcode'), { recursive: true });
    fs.writeFileSync(path.join(early, 'kernel/x86/microcode/AuthenticAMD.bin'), 'ucode');
    const image = path.join(work, 'plain.img');
    sh(`(cd '${early}' && find . | cpio -o -H newc -R 0:0 --quiet; cd '${tree}' && find . | cpio -o -H newc -R 0:0 --quiet) > '${image}'`);
    const s = await readInitrd(world(), image);
    expect(s.error).toBeUndefined();
    expect([s.earlyArchives, s.compression]).toEqual([1, 'none']);
    expect(s.modules).toEqual(['dm_crypt', 'ext4', 'nvme', 'virtio_blk']);
    expect(s.configs['cryptroot/crypttab']?.sha256).toBe(sha256(TREE['cryptroot/crypttab']!));
  });

  it('takes the kernel version from an initrd.img-V~~backup… file name', async () => {
    const image = makeImage(`initrd.img-${VERSION}~~backup202611222040`, 'zstd');
    const s = await readInitrd(world(), image);
    expect(s.nameVersion).toBe(VERSION);
    expect(compareInitrd(s, undefined)).toEqual([]);
  });

  it('names the changed mdadm.conf between two real images (the renamed-host outage)', async () => {
    const before = makeImage('before-zstd', 'zstd');
    const after = makeImage('after-zstd', 'zstd', { overrides: { 'etc/mdadm/mdadm.conf': 'HOMEHOST <system>\nARRAY /dev/md/0 metadata=1.2 UUID=0a1b2c3d:00000000:00000000:00000000 name=bar:0\n' } });
    const [prev, live] = await Promise.all([readInitrd(world(), before), readInitrd(world(), after)]);
    const d = diffInitrd(live, prev);
    expect(d.configsChanged).toEqual(['etc/mdadm/mdadm.conf']);
    expect(d.modulesAdded).toEqual([]);
    const problems = compareInitrd(live, prev);
    expect(problems.map((p) => [p.code, p.severity])).toEqual([['initrd-config-changed', 'warning']]);
    expect(problems[0]!.message).toContain('etc/mdadm/mdadm.conf');
  });

  it('flags a real image whose modules.dep is empty and whose modules are gone', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 40; i++) many[`usr/lib/modules/${VERSION}/kernel/drivers/misc/mod${i}.ko`] = 'm';
    const good = makeImage('good-many', 'gzip', { overrides: many });
    const broken = path.join(work, 'broken-tree');
    fs.mkdirSync(path.join(broken, `usr/lib/modules/${VERSION}`), { recursive: true });
    fs.writeFileSync(path.join(broken, `usr/lib/modules/${VERSION}/modules.dep`), '');
    fs.writeFileSync(path.join(broken, 'init'), '#!/bin/sh\n');
    const brokenImage = path.join(work, 'broken.img');
    sh(`find . | cpio -o -H newc -R 0:0 --quiet | gzip > '${brokenImage}'`, broken);
    const [prev, live] = await Promise.all([readInitrd(world(), good), readInitrd(world(), brokenImage)]);
    expect(prev.moduleFiles).toBe(44);
    expect(live.moduleFiles).toBe(0);
    expect(live.modulesDep).toEqual({ [VERSION]: 0 });
    const codes = compareInitrd(live, prev).map((p) => p.code);
    expect(codes).toContain('initrd-modules-dep-empty');
    expect(codes).toContain('initrd-modules-dropped');
  });

  it('returns an unreadable summary, never throws, for garbage, a truncated image and a missing file', async () => {
    const garbage = path.join(work, 'garbage.img');
    fs.writeFileSync(garbage, 'this is not an initramfs\n'.repeat(100));
    const full = makeImage('to-truncate', 'zstd', { early: false });
    const truncated = path.join(work, 'truncated.img');
    const bytes = fs.readFileSync(full);
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const empty = path.join(work, 'empty.img');
    fs.writeFileSync(empty, '');
    for (const image of [garbage, truncated, empty, path.join(work, 'no-such-initrd')]) {
      const s = await readInitrd(world(), image);
      expect(s.errorKind, image).toBe('unreadable');
      expect(s.error, image).toBeTruthy();
      const problems = compareInitrd(s, undefined);
      expect(problems.map((p) => p.code)).toEqual(['initrd-unreadable']);
      expect(problems[0]!.message).toContain(path.basename(image));
    }
  });

  it('says which tools are missing when neither lsinitramfs nor lsinitrd is on PATH', async () => {
    const emptyBin = fs.mkdtempSync(path.join(work, 'bin-'));
    // Run every program with a PATH that holds no initrd tool (env itself by absolute path).
    const noTools: World['exec'] = (file, args, options) =>
      realExec('/usr/bin/env', [`PATH=${emptyBin}`, file === 'env' ? '/usr/bin/env' : file, ...args], options);
    const image = makeImage('tool-missing', 'gzip');
    const s = await readInitrd(world('/', noTools), image);
    expect(s.errorKind).toBe('tool-missing');
    expect(compareInitrd(s, undefined).map((p) => [p.code, p.severity])).toEqual([['initrd-tool-missing', 'warning']]);
  });
});

describe('listInitrdBackups', () => {
  it('finds backup initrds newest first and ignores live files, temporaries and other stems', async () => {
    const root = fs.mkdtempSync(path.join(work, 'root-'));
    const boot = path.join(root, 'boot');
    fs.mkdirSync(boot);
    for (const n of [
      `initrd.img-${VERSION}`,
      `initrd.img-${VERSION}~~backup202611010000`,
      `initrd.img-${VERSION}~~backup202611222040`,
      `initrd.img-${VERSION}~~backup202611222040.2`,
      `kernel-${VERSION}~~backup202611222040`,
      `initrd.img-6.1.0-18-amd64~~backup202601010000`,
      `.kbackup-tmp-initrd.img-${VERSION}~~backup202612010000`,
    ]) {
      fs.writeFileSync(path.join(boot, n), 'x');
    }
    const all = await listInitrdBackups(world(root));
    expect(all.map((b) => b.id)).toEqual([
      '6.1.0-18-amd64~~backup202601010000',
      `${VERSION}~~backup202611222040.2`,
      `${VERSION}~~backup202611222040`,
      `${VERSION}~~backup202611010000`,
    ]);
    expect((await listInitrdBackups(world(root), VERSION))[0]!.path).toBe(path.join(boot, `initrd.img-${VERSION}~~backup202611222040.2`));
  });
});

describe('runDiff and assessInitrd on a temp root', () => {
  function rootWith(files: Record<string, string>): string {
    const root = fs.mkdtempSync(path.join(work, 'diffroot-'));
    fs.mkdirSync(path.join(root, 'boot'));
    for (const [name, image] of Object.entries(files)) fs.copyFileSync(image, path.join(root, 'boot', name));
    return root;
  }

  it('names the changed mdadm.conf and the added module, in text and --json', async () => {
    const before = makeImage('diff-before', 'zstd');
    const after = makeImage('diff-after', 'gzip', {
      overrides: {
        'etc/mdadm/mdadm.conf': 'HOMEHOST <system>\nARRAY /dev/md/0 name=bar:0\n',
        [`usr/lib/modules/${VERSION}/kernel/drivers/md/raid1.ko`]: 'module',
      },
    });
    const root = rootWith({
      [`initrd.img-${VERSION}`]: after,
      [`initrd.img-${VERSION}~~backup202611222040`]: before,
      [`initrd.img-${VERSION}~~backup202601010000`]: after,
    });
    const text = await runDiff(world(root), { json: false });
    expect(text.exitCode).toBe(0);
    expect(text.output).toContain(`backup: /boot/initrd.img-${VERSION}~~backup202611222040 (${VERSION}~~backup202611222040)`);
    expect(text.output).toContain('modules: 4 → 5 (+1)');
    expect(text.output).toContain('  added (1): raid1');
    expect(text.output).toContain('  changed: etc/mdadm/mdadm.conf');
    expect(text.output).toContain('warning: initrd-config-changed');

    const json = await runDiff(world(root), { id: `${VERSION}~~backup202611222040`, json: true });
    const report = JSON.parse(json.output);
    expect(report).toMatchObject({
      ok: true,
      version: VERSION,
      live: { path: `/boot/initrd.img-${VERSION}`, compression: 'gzip', moduleFiles: 5, error: null },
      backup: { id: `${VERSION}~~backup202611222040`, compression: 'zstd', moduleFiles: 4 },
      modules: { added: ['raid1'], removed: [] },
      configs: { changed: ['etc/mdadm/mdadm.conf'], added: [], removed: [] },
    });
    expect(report.problems.map((p: { code: string }) => p.code)).toEqual(['initrd-config-changed']);

    // The older set by ID: identical to the live image.
    const older = JSON.parse((await runDiff(world(root), { id: `${VERSION}~~backup202601010000`, json: true })).output);
    expect(older.configs).toEqual({ changed: [], added: [], removed: [] });
    expect(older.problems).toEqual([]);
  });

  it('exits 1 when the live image lost its modules, and assessInitrd reports the same against the newest backup', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 30; i++) many[`usr/lib/modules/${VERSION}/kernel/drivers/misc/m${i}.ko`] = 'm';
    const good = makeImage('assess-good', 'zstd', { overrides: many });
    const brokenTree = path.join(work, 'assess-broken-tree');
    fs.mkdirSync(path.join(brokenTree, `usr/lib/modules/${VERSION}`), { recursive: true });
    fs.writeFileSync(path.join(brokenTree, `usr/lib/modules/${VERSION}/modules.dep`), '');
    const broken = path.join(work, 'assess-broken.img');
    sh(`find . | cpio -o -H newc -R 0:0 --quiet | zstd -q > '${broken}'`, brokenTree);
    const root = rootWith({ [`initrd.img-${VERSION}`]: broken, [`initrd.img-${VERSION}~~backup202611222040`]: good });

    const r = await runDiff(world(root), { id: VERSION, json: false });
    expect(r.exitCode).toBe(1);
    expect(r.output).toContain('modules: 34 → 0 (-34)');
    expect(r.output).toContain('error: initrd-modules-dep-empty');
    expect(r.output).toContain('error: initrd-modules-dropped');

    const a = await assessInitrd(world(root), VERSION);
    expect(a.previousId).toBe(`${VERSION}~~backup202611222040`);
    expect(a.needs?.note).toMatch(/--root/);
    // the broken tree has no config files at all: they count as removed
    expect(a.problems.map((p) => p.code)).toEqual(['initrd-modules-dep-empty', 'initrd-modules-dropped', 'initrd-config-changed']);
  });

  it('refuses IDs that name nothing, and asks for one when several versions have backups', async () => {
    const img = makeImage('diff-usage', 'gzip');
    const root = rootWith({ 'initrd.img-6.1.0-1-amd64~~backup202611222040': img, 'initrd.img-6.1.0-2-amd64~~backup202611222040': img });
    await expect(runDiff(world(root), { json: false })).rejects.toThrow(UsageError);
    await expect(runDiff(world(root), { json: false })).rejects.toThrow(/6\.1\.0-1-amd64, 6\.1\.0-2-amd64 have; name one/);
    await expect(runDiff(world(root), { id: '6.1.0-1-amd64~~backup209901010000', json: false })).rejects.toThrow(/no backup set/);
    await expect(runDiff(world(root), { id: '../../etc', json: false })).rejects.toThrow(/refusing/);
    const empty = rootWith({});
    await expect(runDiff(world(empty), { json: false })).rejects.toThrow(/no backup initrd/);
    // One version with backups: that one, even though it is not the running kernel; its live file is missing.
    const one = rootWith({ 'initrd.img-6.1.0-1-amd64~~backup202611222040': img });
    const r = await runDiff(world(one), { json: true });
    expect(r.exitCode).toBe(1);
    const report = JSON.parse(r.output);
    expect(report.live.error).toBe('no such file');
    expect(report.problems.map((p: { code: string }) => p.code)).toEqual(['initrd-unreadable']);
  });
});

// ---------------------------------------------------------------------------------------------
// rootDriverNeeds on fake machines: sysfs shapes copied from real ones (relative symlinks, as in /sys).

function link(root: string, at: string, target: string): void {
  fs.mkdirSync(path.dirname(path.join(root, at)), { recursive: true });
  fs.symlinkSync(target, path.join(root, at));
}

function file(root: string, at: string, content: string): void {
  fs.mkdirSync(path.dirname(path.join(root, at)), { recursive: true });
  fs.writeFileSync(path.join(root, at), content);
}

/** A driver dir under /sys/bus with its module link (absent for a built-in driver without a modname). */
function driver(root: string, bus: string, name: string, module?: string): void {
  fs.mkdirSync(path.join(root, 'sys/bus', bus, 'drivers', name), { recursive: true });
  if (module) {
    fs.mkdirSync(path.join(root, 'sys/module', module), { recursive: true });
    link(root, `sys/bus/${bus}/drivers/${name}/module`, `../../../../module/${module}`);
  }
}

function mountinfo(root: string, majmin: string, fstype: string, source: string): void {
  file(
    root,
    'proc/self/mountinfo',
    `22 27 0:21 / /proc rw,relatime - proc proc rw\n27 1 ${majmin} / / rw,relatime - ${fstype} ${source} rw\n30 27 0:30 / /boot rw - ext4 /dev/vda15 rw\n`,
  );
}

function builtin(root: string, lines: string[]): void {
  file(root, `lib/modules/${VERSION}/modules.builtin`, lines.map((l) => `${l}\n`).join(''));
}

function machine(root: string): MachinePaths {
  return { proc: path.join(root, 'proc'), sys: path.join(root, 'sys'), modules: [path.join(root, 'lib/modules')] };
}

describe('rootDriverNeeds', () => {
  it('follows a virtio disk partition up to virtio_blk and virtio_pci, plus the ext4 module', async () => {
    const m = fs.mkdtempSync(path.join(work, 'm-virtio-'));
    const pci = 'sys/devices/pci0000:00/0000:00:02.0';
    file(m, `${pci}/virtio1/block/vda/vda1/partition`, '1\n');
    link(m, 'sys/dev/block/254:1', `../../devices/pci0000:00/0000:00:02.0/virtio1/block/vda/vda1`);
    link(m, `${pci}/virtio1/block/vda/device`, '../../../virtio1');
    driver(m, 'virtio', 'virtio_blk', 'virtio_blk');
    driver(m, 'pci', 'virtio-pci', 'virtio_pci');
    link(m, `${pci}/virtio1/driver`, '../../../../bus/virtio/drivers/virtio_blk');
    link(m, `${pci}/driver`, '../../../bus/pci/drivers/virtio-pci');
    mountinfo(m, '254:1', 'ext4', '/dev/vda1');
    builtin(m, ['kernel/drivers/base/firmware_loader/firmware_class.ko']);
    const needs = await rootDriverNeeds({ ...world(), machine: machine(m) });
    expect(needs).toEqual({ device: '/dev/vda1', modules: ['virtio_blk', 'virtio_pci', 'ext4'], builtin: [] });

    // modules.builtin decides, and a driver without a module link is built in.
    builtin(m, ['kernel/drivers/virtio/virtio_pci.ko']);
    expect(await rootDriverNeeds({ ...world(), machine: machine(m) })).toEqual({ device: '/dev/vda1', modules: ['virtio_blk', 'ext4'], builtin: ['virtio_pci'] });
  });

  it('follows md RAID-1 on two AHCI disks: md_mod, raid1, sd_mod, ahci, and the file system', async () => {
    const m = fs.mkdtempSync(path.join(work, 'm-md-'));
    driver(m, 'scsi', 'sd', 'sd_mod');
    driver(m, 'pci', 'ahci', 'ahci');
    driver(m, 'pci', 'pcieport'); // built in, no module link
    const bridge = 'sys/devices/pci0000:00/0000:00:1c.0';
    link(m, `${bridge}/driver`, '../../../bus/pci/drivers/pcieport');
    const hba = `${bridge}/0000:01:00.0`;
    link(m, `${hba}/driver`, '../../../../bus/pci/drivers/ahci');
    for (const [n, disk] of [[0, 'sda'], [1, 'sdb']] as const) {
      const dev = `${hba}/ata${n + 1}/host${n}/target${n}:0:0/${n}:0:0:0`;
      link(m, `${dev}/driver`, `../../../../../../../../bus/scsi/drivers/sd`);
      file(m, `${dev}/block/${disk}/${disk}1/partition`, '1\n');
      link(m, `${dev}/block/${disk}/device`, `../../../${n}:0:0:0`);
    }
    file(m, 'sys/devices/virtual/block/md0/md/level', 'raid1\n');
    link(m, 'sys/devices/virtual/block/md0/slaves/sda1', `../../../../pci0000:00/0000:00:1c.0/0000:01:00.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1`);
    link(m, 'sys/devices/virtual/block/md0/slaves/sdb1', `../../../../pci0000:00/0000:00:1c.0/0000:01:00.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb/sdb1`);
    link(m, 'sys/dev/block/9:0', '../../devices/virtual/block/md0');
    mountinfo(m, '9:0', 'xfs', '/dev/md0');
    builtin(m, ['kernel/drivers/md/md-mod.ko']);
    const needs = await rootDriverNeeds({ ...world(), machine: machine(m) });
    expect(needs.device).toBe('/dev/md0');
    expect(needs.modules).toEqual(['raid1', 'sd_mod', 'ahci', 'xfs']);
    expect(needs.builtin).toEqual(['md_mod', 'pcieport']);
  });

  it('follows LVM on LUKS on an NVMe partition: dm_mod, dm_crypt, nvme', async () => {
    const m = fs.mkdtempSync(path.join(work, 'm-dm-'));
    driver(m, 'pci', 'nvme', 'nvme');
    const ctrl = 'sys/devices/pci0000:00/0000:00:04.0';
    link(m, `${ctrl}/driver`, '../../../bus/pci/drivers/nvme');
    file(m, `${ctrl}/nvme/nvme0/nvme0n1/nvme0n1p3/partition`, '3\n');
    link(m, `${ctrl}/nvme/nvme0/nvme0n1/device`, '../../nvme0');
    file(m, 'sys/devices/virtual/block/dm-0/dm/uuid', 'CRYPT-LUKS2-0123456789abcdef-nvme0n1p3_crypt\n');
    link(m, 'sys/devices/virtual/block/dm-0/slaves/nvme0n1p3', '../../../../pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p3');
    file(m, 'sys/devices/virtual/block/dm-1/dm/uuid', 'LVM-abcdefABCDEF\n');
    link(m, 'sys/devices/virtual/block/dm-1/slaves/dm-0', '../../dm-0');
    link(m, 'sys/dev/block/253:1', '../../devices/virtual/block/dm-1');
    mountinfo(m, '253:1', 'ext4', '/dev/mapper/vg-root');
    builtin(m, []);
    const needs = await rootDriverNeeds({ ...world(), machine: machine(m) });
    expect(needs).toEqual({ device: '/dev/dm-1', modules: ['dm_mod', 'dm_crypt', 'nvme', 'ext4'], builtin: [] });
  });

  it('gives a note, not a guess, for overlay and virtiofs roots, --root, and a kernel without lib/modules', async () => {
    const m = fs.mkdtempSync(path.join(work, 'm-ct-'));
    mountinfo(m, '0:52', 'overlay', 'overlay');
    let needs = await rootDriverNeeds({ ...world(), machine: machine(m) });
    expect(needs.modules).toEqual([]);
    expect(needs.note).toMatch(/overlay.*not a local block device/);

    mountinfo(m, '0:30', 'virtiofs', 'myfs');
    needs = await rootDriverNeeds({ ...world(), machine: machine(m) });
    expect(needs.note).toMatch(/virtiofs/);

    needs = await rootDriverNeeds({ ...world('/srv/other-root'), machine: machine(m) });
    expect(needs).toEqual({ modules: [], builtin: [], note: expect.stringMatching(/--root \/srv\/other-root/) });

    const v = fs.mkdtempSync(path.join(work, 'm-nomods-'));
    file(v, 'sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/size', '1\n');
    link(v, 'sys/dev/block/254:0', '../../devices/pci0000:00/0000:00:02.0/virtio1/block/vda');
    mountinfo(v, '254:0', 'ext4', '/dev/vda');
    needs = await rootDriverNeeds({ ...world(), machine: machine(v) });
    expect(needs.modules).toEqual([]);
    expect(needs.note).toMatch(/has no lib\/modules/);
  });

  it('on this machine: never throws, and either names modules or says why not', async () => {
    const needs = await rootDriverNeeds(world('/', realExec));
    expect(needs.modules.length > 0 || (needs.note ?? '').length > 0).toBe(true);
  });
});
