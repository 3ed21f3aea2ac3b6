// kbackup's own initrd reader held to the distribution's tool: for images built here with cpio and
// each compressor mkinitramfs can use (with and without an early microcode archive in front), the
// reader must list the same entries as `lsinitramfs -l` (names, types, modes, sizes, link targets,
// in the same order); and truncated or damaged images must be "unreadable", quickly, never a hang or
// a crash. Real mkinitramfs and dracut images are held to the same rule in
// test/e2e/initrd-differential.trixie.test.ts.
//
// Needs lsinitramfs (initramfs-tools-core), cpio, gzip, zstd, xz, lz4 and bzip2 on the host.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInitrdImage } from '../../src/core/io/initrd-image';
import { parseListing, type ListingEntry } from '../../src/core/model/initrd-health';
import type { World } from '../../src/core/world';
import { REAL_MACHINE, realExec } from '../../src/world';
import { isRoot } from '../helpers/root';

const COMPRESSORS = {
  gzip: 'gzip -n -9',
  zstd: 'zstd -q -19 -T0',
  xz: 'xz --check=crc32',
  lz4: 'lz4 -q -9 -l',
  bzip2: 'bzip2 -9',
} as const;
type Compressor = keyof typeof COMPRESSORS;

let work: string;
const logs: string[] = [];
const world: World = {
  root: '/',
  configPath: '/etc/default/kbackup',
  now: () => new Date('2026-12-05T12:00:00Z'),
  uname: () => '6.1.0-99-amd64',
  log: { info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m), debug: (m) => logs.push(m) },
  env: {},
  exec: realExec,
  machine: REAL_MACHINE,
  tmpdir: os.tmpdir(),
};

function sh(script: string, cwd?: string): void {
  const r = spawnSync('sh', ['-c', script], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
}

/** A tree with every kind of entry an initrd holds, and the alignments newc pads to. */
function makeTree(dir: string): void {
  const write = (rel: string, content: string | Buffer, mode = 0o644) => {
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
    fs.chmodSync(path.join(dir, rel), mode);
  };
  for (let n = 0; n <= 5; n++) write(`sizes/${n}`, 'x'.repeat(n));
  write('usr/lib/modules/6.1.0-99-amd64/kernel/fs/ext4/ext4.ko.zst', Buffer.alloc(70_001, 7));
  write('usr/lib/modules/6.1.0-99-amd64/modules.dep', 'kernel/fs/ext4/ext4.ko.zst:\n');
  write('usr/bin/setuid-tool', '#!/bin/sh\n', 0o4755);
  write('usr/bin/setgid-tool', '#!/bin/sh\n', 0o2711);
  write('etc/mdadm/mdadm.conf', 'ARRAY /dev/md0 UUID=0\n', 0o600);
  write(`long/${'n'.repeat(200)}`, 'long name');
  write('odd names/with space and ünïcode', 'odd');
  fs.mkdirSync(path.join(dir, 'tmp'));
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.symlinkSync('usr/lib', path.join(dir, 'lib'));
  fs.symlinkSync('/dev/null', path.join(dir, 'etc/absolute-link'));
  fs.linkSync(path.join(dir, 'sizes/5'), path.join(dir, 'sizes/5-hardlink'));
  sh(`mkfifo '${dir}/run-fifo'`);
  if (isRoot) sh(`mknod '${dir}/dev-null' c 1 3 && mkdir -p '${dir}/dev' && mknod '${dir}/dev/sda' b 8 0`);
}

/** `[early microcode cpio] + compressed main cpio`, as mkinitramfs writes it. */
function makeImage(name: string, compressor: Compressor | 'none', early: boolean): string {
  const image = path.join(work, name);
  const tree = path.join(work, 'tree');
  const parts: string[] = [];
  if (early) {
    const earlyTree = path.join(work, 'early-tree');
    parts.push(`(cd '${earlyTree}' && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)`);
  }
  parts.push(`(cd '${tree}' && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet${compressor === 'none' ? '' : ` | ${COMPRESSORS[compressor]}`})`);
  sh(`{ ${parts.join('; ')}; } > '${image}'`);
  return image;
}

function line(e: ListingEntry): string {
  return `${e.type} ${(e.mode ?? -1).toString(8)} ${e.size} ${e.path}${e.linkTarget !== undefined ? ` -> ${e.linkTarget}` : ''}`;
}

function lsinitramfs(image: string): { code: number; entries: string[] } {
  const r = spawnSync('lsinitramfs', ['-l', image], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, entries: parseListing(r.stdout).map(line) };
}

beforeAll(() => {
  const missing = ['lsinitramfs', 'cpio', ...Object.keys(COMPRESSORS)].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) throw new Error(`the differential test needs ${missing.join(', ')} (apt-get install initramfs-tools-core cpio zstd xz-utils lz4 bzip2)`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-initrd-diff-'));
  makeTree(path.join(work, 'tree'));
  const ucode = path.join(work, 'early-tree/kernel/x86/microcode');
  fs.mkdirSync(ucode, { recursive: true });
  // Not a multiple of 4, and larger than one read: the main archive starts after zero padding.
  fs.writeFileSync(path.join(ucode, 'GenuineIntel.bin'), Buffer.alloc(5 * 1024 * 1024 + 3, 1));
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the reader lists what lsinitramfs -l lists', () => {
  for (const compressor of Object.keys(COMPRESSORS) as Compressor[]) {
    for (const early of [false, true]) {
      it(`${compressor}${early ? ', behind an early microcode archive' : ''}`, async () => {
        const image = makeImage(`${compressor}-${early}.img`, compressor, early);
        const reading = await readInitrdImage(world, image);
        expect(reading.summary.error).toBeUndefined();
        expect(reading.summary).toMatchObject({ tool: 'kbackup', compression: compressor, earlyArchives: early ? 1 : 0 });
        const tool = lsinitramfs(image);
        expect(tool.code).toBe(0);
        expect(tool.entries.length).toBeGreaterThan(20);
        expect(reading.entries!.map(line)).toEqual(tool.entries);
        // The sha256 came from the same reads.
        expect(reading.sha256).toBe(spawnSync('sha256sum', [image], { encoding: 'utf8' }).stdout.split(' ')[0]);
        expect(reading.summary.configs['etc/mdadm/mdadm.conf']).toMatchObject({ size: 22 });
      });
    }
  }

  it('an uncompressed image (microcode + plain cpio) is read without any program', async () => {
    const image = makeImage('none.img', 'none', true);
    const noPrograms: World = { ...world, exec: async (file) => ({ code: 127, stdout: '', stderr: `${file}: ENOENT` }) };
    const reading = await readInitrdImage(noPrograms, image);
    expect(reading.summary).toMatchObject({ tool: 'kbackup', compression: 'none', earlyArchives: 1 });
    // lsinitramfs takes every uncompressed archive for an early one and lists them all.
    expect(reading.entries!.map(line)).toEqual(lsinitramfs(image).entries);
  });
});

describe('truncated and damaged images are unreadable, never a hang or a crash', () => {
  const cases: { name: string; compressor: Compressor | 'none'; damage: (bytes: Buffer) => Buffer }[] = [];
  for (const compressor of Object.keys(COMPRESSORS) as Compressor[]) {
    cases.push({ name: `${compressor}, cut in half`, compressor, damage: (b) => b.subarray(0, Math.floor(b.length / 2)) });
    cases.push({ name: `${compressor}, its last 64 bytes missing`, compressor, damage: (b) => b.subarray(0, b.length - 64) });
    // lz4's legacy frames (what mkinitramfs writes) have no checksum: damaged data decompresses.
    if (compressor !== 'lz4') {
      cases.push({
        name: `${compressor}, 64 bytes overwritten inside the main archive`,
        compressor,
        damage: (b) => {
          const out = Buffer.from(b);
          const at = b.length - Math.floor((b.length - 5 * 1024 * 1024) / 2);
          for (let i = 0; i < 64; i++) out[at + i] = out[at + i]! ^ 0x5a;
          return out;
        },
      });
    }
  }
  cases.push({ name: 'cut inside the early microcode archive', compressor: 'zstd', damage: (b) => b.subarray(0, 1024 * 1024) });
  cases.push({ name: 'uncompressed, cut inside the main archive', compressor: 'none', damage: (b) => b.subarray(0, b.lastIndexOf('TRAILER!!!') - 200) });
  cases.push({ name: 'garbage after the early archive', compressor: 'none', damage: (b) => Buffer.concat([b.subarray(0, 5 * 1024 * 1024 + 512), Buffer.from('garbage!'.repeat(100))]) });

  for (const { name, compressor, damage } of cases) {
    it(name, async () => {
      const good = fs.readFileSync(makeImage(`good-${compressor}.img`, compressor, true));
      const image = path.join(work, `damaged-${name.replace(/\W+/g, '-')}.img`);
      fs.writeFileSync(image, damage(good));
      const t0 = Date.now();
      const reading = await readInitrdImage(world, image);
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(reading.summary.errorKind, JSON.stringify(reading.summary.error)).toBe('unreadable');
      expect(reading.summary.error).toMatch(/truncated or damaged|not understand|neither|failed/);
      // The sha256 still covers the whole file.
      expect(reading.sha256).toBe(spawnSync('sha256sum', [image], { encoding: 'utf8' }).stdout.split(' ')[0]);
    });
  }
});
