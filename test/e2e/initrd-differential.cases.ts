// kbackup's initrd reader held to the distribution's own tool over real images: every image below is
// built by the release's mkinitramfs (or dracut) in a chroot, listed there by `lsinitramfs -l` (or
// `lsinitrd`), and read by kbackup's reader (io/initrd-image.ts, on the host); both must give the
// same entries (names, types, modes, sizes, link targets, in order). Covered: the kernel package's
// own image (MODULES=most, COMPRESS=zstd, the release's default), MODULES=most with gzip and lz4,
// small MODULES=list images (zstd, xz), that first image behind an early microcode archive (built with
// cpio as initramfs-tools' microcode hooks prepend it), dracut's default image on Debian 13, and a
// truncated real image, which must be unreadable. MODULES=dep cannot be built in a chroot
// (mkinitramfs: "failed to determine device for /"); MODULES=list is the small image instead. One
// chroot per release, no VM; the mkinitramfs runs are most of the cost (see the report's minutes).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readInitrdImage } from '../../src/core/io/initrd-image';
import { parseListing, type ListingEntry } from '../../src/core/model/initrd-health';
import type { World } from '../../src/core/world';
import { REAL_MACHINE, realExec } from '../../src/world';
import { createChroot, download, type Chroot, type Suite, SUITE_NUMBER } from './harness';

const world: World = {
  root: '/',
  configPath: '/etc/default/kbackup',
  now: () => new Date(),
  uname: () => os.release(),
  log: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined },
  env: {},
  exec: realExec,
  machine: REAL_MACHINE,
  tmpdir: os.tmpdir(),
};

function line(e: ListingEntry): string {
  return `${e.type} ${(e.mode ?? -1).toString(8)} ${e.size} ${e.path}${e.linkTarget !== undefined ? ` -> ${e.linkTarget}` : ''}`;
}

async function toolListing(c: Chroot, image: string, tool: 'lsinitramfs' | 'lsinitrd'): Promise<string[]> {
  const r = await c.mustRun(`LC_ALL=C ${tool === 'lsinitramfs' ? 'lsinitramfs -l' : 'lsinitrd'} ${image}`);
  return parseListing(r.stdout).map(line);
}

async function expectSameListing(c: Chroot, image: string, tool: 'lsinitramfs' | 'lsinitrd', expected: { compression: string; early?: number }): Promise<void> {
  const reading = await readInitrdImage(world, c.host(image));
  expect(reading.summary.error, image).toBeUndefined();
  expect(reading.summary.tool).toBe('kbackup');
  expect(reading.summary.compression).toBe(expected.compression);
  if (expected.early !== undefined) expect(reading.summary.earlyArchives).toBe(expected.early);
  const listed = await toolListing(c, image, tool);
  expect(listed.length, `${tool} listed nothing in ${image}`).toBeGreaterThan(50);
  expect(reading.entries!.map(line)).toEqual(listed);
  expect(reading.summary.kernelVersions.length).toBe(1);
  expect(reading.sha256).toBe(c.sha256(image));
}

/** An early microcode archive, as initramfs-tools' microcode hooks put it in front of the image. */
async function withEarlyMicrocode(c: Chroot, image: string, out: string): Promise<void> {
  await c.mustRun(
    `set -e; d=$(mktemp -d); mkdir -p $d/kernel/x86/microcode; head -c 123457 /dev/urandom > $d/kernel/x86/microcode/GenuineIntel.bin; ` +
      `(cd $d && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > ${out}; cat ${image} >> ${out}; rm -rf $d`,
  );
}

export function initrdDifferentialTests(suite: Suite): void {
  describe(`Debian ${SUITE_NUMBER[suite]}: kbackup's reader lists what lsinitramfs -l lists`, () => {
    let c: Chroot;
    let V: string;
    // Debian 13's initramfs-tools (0.148) writes the modules as an extra uncompressed archive.
    const mainEarly = suite === 'trixie' ? 1 : 0;

    beforeAll(async () => {
      c = await createChroot({ suite, kbackup: false, label: `initrd-differential-${suite}` });
      V = c.kernel.version;
      // The base tree has zstd only: mkinitramfs falls back to gzip for a compressor it cannot find.
      for (const pkg of ['xz-utils', 'lz4']) {
        const deb = await download(suite, 'release', pkg);
        fs.copyFileSync(deb, c.host(`/tmp/${pkg}.deb`));
      }
      await c.mustRun('dpkg -i /tmp/xz-utils.deb /tmp/lz4.deb');
      await c.mustRun('mkdir -p /tmp/list && cp -a /etc/initramfs-tools/. /tmp/list/ && sed -i "s/^MODULES=.*/MODULES=list/" /tmp/list/initramfs.conf');
    });

    afterAll(async () => {
      await c?.dispose();
    });

    it("the kernel package's own image (MODULES=most, zstd)", async () => {
      await expectSameListing(c, `/boot/initrd.img-${V}`, 'lsinitramfs', { compression: 'zstd', early: mainEarly });
    });

    it('that image behind an early microcode archive', async () => {
      await withEarlyMicrocode(c, `/boot/initrd.img-${V}`, '/tmp/initrd-ucode');
      await expectSameListing(c, '/tmp/initrd-ucode', 'lsinitramfs', { compression: 'zstd', early: mainEarly + 1 });
    });

    // MODULES=most with xz costs a minute more here than gzip or lz4: xz is held to the tool with
    // MODULES=list below, as zstd is with the package's own MODULES=most image.
    for (const compression of ['gzip', 'lz4'] as const) {
      it(`MODULES=most, COMPRESS=${compression}`, async () => {
        const image = `/tmp/initrd-most-${compression}`;
        await c.mustRun(`mkinitramfs -c ${compression} -o ${image} ${V}`);
        await expectSameListing(c, image, 'lsinitramfs', { compression, early: mainEarly });
      });
    }

    for (const compression of ['zstd', 'xz'] as const) {
      it(`MODULES=list, COMPRESS=${compression}`, async () => {
        const image = `/tmp/initrd-list-${compression}`;
        await c.mustRun(`mkinitramfs -d /tmp/list -c ${compression} -o ${image} ${V}`);
        await expectSameListing(c, image, 'lsinitramfs', { compression, early: mainEarly });
      });
    }

    it('a truncated real image is unreadable, and so it is to lsinitramfs', async () => {
      const full = fs.readFileSync(c.host(`/boot/initrd.img-${V}`));
      fs.writeFileSync(c.host('/tmp/initrd-cut'), full.subarray(0, Math.floor(full.length * 0.7)));
      const reading = await readInitrdImage(world, c.host('/tmp/initrd-cut'));
      expect(reading.summary.errorKind).toBe('unreadable');
      expect(reading.summary.error).toMatch(/truncated or damaged/);
      expect((await c.run('lsinitramfs -l /tmp/initrd-cut')).code).not.toBe(0);
    });
  });

  if (suite !== 'trixie') return;
  describe("Debian 13 with dracut: kbackup's reader lists what lsinitrd lists", () => {
    let c: Chroot;
    beforeAll(async () => {
      c = await createChroot({ suite, initramfs: 'dracut', kbackup: false, label: 'initrd-differential-dracut' });
    });
    afterAll(async () => {
      await c?.dispose();
    });

    it("dracut's default image", async () => {
      const image = `/boot/initrd.img-${c.kernel.version}`;
      const head = fs.readFileSync(c.host(image)).subarray(0, 6).toString('latin1');
      // dracut's default compression here, whichever it is, read by its magic.
      const reading = await readInitrdImage(world, c.host(image));
      expect(reading.summary.error).toBeUndefined();
      expect(reading.summary.compression, head).not.toBe('unknown');
      // lsinitrd sorts its listing by name; the entries must be the same.
      const byPath = (lines: string[]) => [...lines].sort((x, y) => (x.split(' ').slice(3).join(' ') < y.split(' ').slice(3).join(' ') ? -1 : 1));
      expect(byPath(reading.entries!.map(line))).toEqual(byPath(await toolListing(c, image, 'lsinitrd')));
      expect(reading.summary.moduleFiles).toBeGreaterThan(10);
    });
  });
}
