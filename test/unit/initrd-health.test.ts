// The pure initrd judgement, on listings captured from real Debian 12 images (test/fixtures/initrd/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  compareInitrd,
  diffInitrd,
  DROP_MIN_LOST,
  INITRD_PROBLEM_CODES,
  isConfigPath,
  moduleNameOf,
  parseListing,
  summarizeListing,
  unkeptRebuildProblem,
  type InitrdSummary,
} from '../../src/core/model/initrd-health';

const FIXTURES = path.join(__dirname, '../fixtures/initrd');
const V = '6.1.0-50-amd64';

function listing(name: string): string {
  const raw = fs.readFileSync(path.join(FIXTURES, name));
  return name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
}

/** A summary as readInitrd builds it from a listing; config hashes are made up per test. */
function summaryOf(name: string, extra: Partial<InitrdSummary> = {}): InitrdSummary {
  const facts = summarizeListing(parseListing(listing(name)));
  const configs: InitrdSummary['configs'] = {};
  for (const p of facts.configPaths) configs[p] = { size: 1, sha256: `sha-of-${p}` };
  return {
    path: `/boot/${name}`,
    nameVersion: V,
    tool: 'lsinitramfs',
    entries: facts.entries,
    kernelVersions: facts.kernelVersions,
    modules: facts.modules,
    moduleFiles: facts.moduleFiles,
    modulesDep: facts.modulesDep,
    configs,
    ...extra,
  };
}

function synthetic(moduleFiles: number, extra: Partial<InitrdSummary> = {}): InitrdSummary {
  const modules = Array.from({ length: moduleFiles }, (_, i) => `mod${i}`);
  return {
    path: `/boot/initrd.img-${V}`,
    nameVersion: V,
    entries: moduleFiles + 10,
    kernelVersions: [V],
    modules,
    moduleFiles,
    modulesDep: { [V]: moduleFiles * 40 },
    configs: {},
    ...extra,
  };
}

const codes = (ps: { code: string }[]) => ps.map((p) => p.code);

describe('parseListing / summarizeListing on real mkinitramfs listings', () => {
  for (const c of ['zstd', 'gzip', 'xz', 'lz4']) {
    it(`bookworm MODULES=most, ${c}: 759 module files for ${V}, modules.dep 76216 bytes`, () => {
      const entries = parseListing(listing(`bookworm-6.1-most-${c}.txt.gz`));
      expect(entries.length).toBe(1196); // 1197 lines, one of them "." itself
      const s = summarizeListing(entries);
      expect(s.kernelVersions).toEqual([V]);
      expect(s.moduleFiles).toBe(759);
      expect(s.modules.length).toBe(759);
      expect(s.modulesDep).toEqual({ [V]: 76216 });
      expect(s.modules).toEqual(expect.arrayContaining(['virtio_blk', 'virtio_pci', 'nvme', 'ahci', 'sd_mod', 'ext4', 'md_mod', 'raid1', 'raid456']));
      // no cryptsetup-initramfs or lvm2 in that chroot: the device-mapper hooks never ran
      expect(s.modules).not.toContain('dm_mod');
      expect(s.configPaths).toEqual(['conf/arch.conf', 'conf/initramfs.conf', 'conf/modules', 'etc/fstab', 'etc/mdadm/mdadm.conf', 'etc/modprobe.d/mdadm.conf']);
    });
  }

  it('reads symlinks, directories and sizes as cpio -tv prints them', () => {
    const entries = parseListing(listing('bookworm-6.1-most-zstd.txt.gz'));
    expect(entries.find((e) => e.path === 'lib')).toEqual({ type: 'symlink', size: 7, path: 'lib', linkTarget: 'usr/lib', mode: 0o777 });
    expect(entries.find((e) => e.path === 'conf/conf.d')).toEqual({ type: 'dir', size: 0, path: 'conf/conf.d', mode: 0o755 });
    expect(entries.find((e) => e.path === 'etc/mdadm/mdadm.conf')).toEqual({ type: 'file', size: 651, path: 'etc/mdadm/mdadm.conf', mode: 0o644 });
  });

  it('the broken-kmod image: no module files at all, and an empty modules.dep', () => {
    const s = summarizeListing(parseListing(listing('bookworm-6.1-depmod-empty-zstd.txt')));
    expect(s.moduleFiles).toBe(0);
    expect(s.kernelVersions).toEqual([V]);
    expect(s.modulesDep).toEqual({ [V]: 0 });
  });

  it('the no-op depmod image: all 759 modules, but no modules.dep in the image', () => {
    const s = summarizeListing(parseListing(listing('bookworm-6.1-depmod-noop-gzip.txt.gz')));
    expect(s.moduleFiles).toBe(759);
    expect(s.modulesDep).toEqual({ [V]: undefined });
  });

  it("skips dracut's header lines and reads device nodes, old-year dates and ./ prefixes", () => {
    const text = [
      'Image: /boot/initramfs-5.14.0.img: 34M',
      '========================================================================',
      'Version: dracut-057',
      'crw-r--r--   1 root     root       5,   1 Jan  1  2019 ./dev/console',
      '-rw-r--r--   1 root     root        1024 Jan  1  2019 ./usr/lib/modules/5.14.0/kernel/fs/xfs/xfs.ko.xz',
      '-rw-r--r--   1 root     root         123 Mar 12 09:41 usr/lib/modules/5.14.0/kernel/drivers/block/virtio-blk.ko.zst',
      '-rw-r--r--   1 0        0             12 Mar 12 09:41 usr/lib/modules/5.14.0/modules.dep',
      '-rw-r--r--   1 root     root          40 Mar 12 09:41 etc/conf.d/systemd.conf',
      '========================================================================',
    ].join('\n');
    const entries = parseListing(text);
    expect(entries.map((e) => [e.type, e.path])).toEqual([
      ['other', 'dev/console'],
      ['file', 'usr/lib/modules/5.14.0/kernel/fs/xfs/xfs.ko.xz'],
      ['file', 'usr/lib/modules/5.14.0/kernel/drivers/block/virtio-blk.ko.zst'],
      ['file', 'usr/lib/modules/5.14.0/modules.dep'],
      ['file', 'etc/conf.d/systemd.conf'],
    ]);
    const s = summarizeListing(entries);
    expect(s.modules).toEqual(['virtio_blk', 'xfs']);
    expect(s.modulesDep).toEqual({ '5.14.0': 12 });
    expect(s.configPaths).toEqual(['etc/conf.d/systemd.conf']);
  });
});

describe('moduleNameOf / isConfigPath', () => {
  it.each([
    ['kernel/fs/ext4/ext4.ko', 'ext4'],
    ['kernel/drivers/block/virtio-blk.ko.xz', 'virtio_blk'],
    ['kernel/drivers/md/dm-crypt.ko.zst', 'dm_crypt'],
    ['kernel/drivers/scsi/sd_mod.ko.gz', 'sd_mod'],
    ['modules.dep', undefined],
    ['kernel/fs/ext4/ext4.ko.sig', undefined],
  ])('%s → %s', (p, name) => expect(moduleNameOf(p)).toBe(name));

  it.each([
    ['etc/mdadm/mdadm.conf', true],
    ['cryptroot/crypttab', true],
    ['conf/conf.d/resume', true],
    ['conf/conf.d/sub/dir', false],
    ['conf/conf.d/', false],
    ['conf/conf.d/../../etc/passwd', false],
    ['etc/mdadm/mdadm.conf.tmp', false],
    ['etc/ld.so.cache', false],
    ['scripts/local-top/cryptroot', false],
  ])('%s is config: %s', (p, yes) => expect(isConfigPath(p)).toBe(yes));
});

describe('compareInitrd on real listings', () => {
  const good = summaryOf('bookworm-6.1-most-zstd.txt.gz');

  it('the same build in another compression is no problem', () => {
    expect(compareInitrd(summaryOf('bookworm-6.1-most-gzip.txt.gz'), good)).toEqual([]);
    expect(compareInitrd(good, undefined)).toEqual([]);
  });

  it('the broken-kmod image after a good one: modules.dep empty and modules dropped (759 → 0), both errors', () => {
    const broken = summaryOf('bookworm-6.1-depmod-empty-zstd.txt');
    const problems = compareInitrd(broken, good);
    expect(problems.map((p) => [p.code, p.severity])).toEqual([
      ['initrd-modules-dep-empty', 'error'],
      ['initrd-modules-dropped', 'error'],
    ]);
    expect(problems[1]!.message).toMatch(/has 0 modules where \S+ \(its newest backup\) had 759/);
  });

  it('the broken-kmod image alone (no backup yet): no module files, so nothing proves it wrong without a previous image', () => {
    expect(codes(compareInitrd(summaryOf('bookworm-6.1-depmod-empty-zstd.txt'), undefined))).toEqual([]);
  });

  it('…but with the root drivers known, the missing virtio_blk is named even without a previous image', () => {
    const problems = compareInitrd(summaryOf('bookworm-6.1-depmod-empty-zstd.txt'), undefined, { device: '/dev/vda1', modules: ['virtio_blk', 'virtio-pci', 'ext4'], builtin: [] });
    expect(codes(problems)).toEqual(['initrd-root-driver-missing']);
    expect(problems[0]!.message).toContain('virtio_blk, virtio_pci, ext4');
    expect(problems[0]!.message).toContain('/dev/vda1');
  });

  it('the no-op depmod image: every module present but no modules.dep is an error on its own', () => {
    const problems = compareInitrd(summaryOf('bookworm-6.1-depmod-noop-gzip.txt.gz'), undefined);
    expect(problems.map((p) => [p.code, p.severity])).toEqual([['initrd-modules-dep-empty', 'error']]);
    expect(problems[0]!.message).toMatch(/is missing \(759 module files\)/);
  });

  it('root drivers that are all in the image are fine', () => {
    expect(compareInitrd(good, good, { modules: ['virtio_blk', 'virtio_pci', 'nvme', 'ahci', 'sd_mod', 'ext4', 'md_mod', 'raid1'], builtin: [] })).toEqual([]);
  });

  it('a LUKS root whose image has no device-mapper modules (cryptsetup-initramfs missing) is named', () => {
    const problems = compareInitrd(good, good, { device: '/dev/dm-0', modules: ['dm_mod', 'dm_crypt', 'nvme', 'ext4'], builtin: [] });
    expect(codes(problems)).toEqual(['initrd-root-driver-missing']);
    expect(problems[0]!.message).toMatch(/lacks dm_mod, dm_crypt, needed to mount \/ \(on \/dev\/dm-0\)/);
  });

  it('a changed mdadm.conf is a warning that names the file', () => {
    const live = summaryOf('bookworm-6.1-most-zstd.txt.gz');
    live.configs['etc/mdadm/mdadm.conf'] = { size: 652, sha256: 'renamed-host' };
    const problems = compareInitrd(live, good);
    expect(problems.map((p) => [p.code, p.severity])).toEqual([['initrd-config-changed', 'warning']]);
    expect(problems[0]!.message).toContain('changed: etc/mdadm/mdadm.conf');
  });
});

describe('compareInitrd rules', () => {
  it('every code it can emit is in the documented list', () => {
    const all = [
      ...compareInitrd(synthetic(0, { error: 'x', errorKind: 'tool-missing' }), undefined),
      ...compareInitrd(synthetic(0, { error: 'x', errorKind: 'unreadable' }), undefined),
      ...compareInitrd(synthetic(0, { error: 'x', errorKind: 'timeout' }), undefined),
      ...compareInitrd(synthetic(5, { kernelVersions: ['6.1.0-1-amd64'], modulesDep: { '6.1.0-1-amd64': 0 } }), synthetic(100, { error: 'bad', errorKind: 'unreadable' }), { modules: ['nvme'], builtin: [] }),
      ...compareInitrd(synthetic(1, { configs: { 'etc/fstab': { size: 1, sha256: 'a' } } }), synthetic(100)),
      unkeptRebuildProblem('dracut', false)!,
    ];
    expect(new Set(codes(all))).toEqual(new Set(INITRD_PROBLEM_CODES));
  });

  it.each([
    [816, 12, true], // the CentOS report
    [40, 19, true], // lost 21 and below half
    [40, 20, false], // exactly half is not below half
    [24, 4, true], // lost exactly DROP_MIN_LOST
    [23, 4, false], // lost 19: small images move around
    [25, 10, false],
    [759, 400, false],
    [0, 0, false],
  ])('previous %i module files, now %i: dropped = %s', (before, after, dropped) => {
    expect(DROP_MIN_LOST).toBe(20);
    expect(codes(compareInitrd(synthetic(after), synthetic(before))).includes('initrd-modules-dropped')).toBe(dropped);
  });

  it('hints at MODULES= when conf/initramfs.conf changed along with the drop', () => {
    const live = synthetic(60, { configs: { 'conf/initramfs.conf': { size: 10, sha256: 'dep' } } });
    const prev = synthetic(759, { configs: { 'conf/initramfs.conf': { size: 10, sha256: 'most' } } });
    const dropped = compareInitrd(live, prev).find((p) => p.code === 'initrd-modules-dropped');
    expect(dropped?.message).toContain('MODULES=');
  });

  it('an image for another kernel version than its name is an error', () => {
    const problems = compareInitrd(synthetic(10, { kernelVersions: ['6.1.0-17-amd64'], modulesDep: { '6.1.0-17-amd64': 400 } }), undefined);
    expect(codes(problems)).toEqual(['initrd-kernel-mismatch']);
    expect(problems[0]!.message).toContain('update-initramfs -u -k 6.1.0-50-amd64');
  });

  it('an unreadable previous image is a warning and skips the comparison', () => {
    const problems = compareInitrd(synthetic(0, { modulesDep: {} }), synthetic(0, { path: '/boot/old', error: 'cpio: premature end of archive', errorKind: 'unreadable' }));
    expect(problems.map((p) => [p.code, p.severity])).toEqual([['initrd-previous-unreadable', 'warning']]);
    expect(problems[0]!.message).toContain('cannot read the previous initrd old (its newest backup)');
  });

  it('an unreadable live image is one error and nothing else', () => {
    const problems = compareInitrd(synthetic(0, { error: 'cpio: premature end of archive', errorKind: 'unreadable' }), synthetic(759), { modules: ['nvme'], builtin: [] });
    expect(problems.map((p) => [p.code, p.severity])).toEqual([['initrd-unreadable', 'error']]);
  });

  it('a missing tool is a warning, not an error about the image', () => {
    const problems = compareInitrd(synthetic(0, { error: 'zstd is not installed, and this image is zstd-compressed; install zstd', errorKind: 'tool-missing' }), undefined);
    expect(problems.map((p) => [p.code, p.severity])).toEqual([['initrd-tool-missing', 'warning']]);
    expect(problems[0]!.message).toContain('install zstd');
  });

  it('a reading stopped by the time limit is a warning that says so, for the live and the previous image', () => {
    const stopped = { error: 'lsinitramfs was still reading it after 120 s (or the hook\'s time ran out) and was stopped', errorKind: 'timeout' as const };
    const live = compareInitrd(synthetic(0, stopped), synthetic(100));
    expect(live.map((p) => [p.code, p.severity])).toEqual([['initrd-read-timeout', 'warning']]);
    expect(live[0]!.message).toMatch(/was not checked: .*stopped; the image may be fine/);
    const previous = compareInitrd(synthetic(100), synthetic(0, stopped));
    expect(previous.map((p) => [p.code, p.severity])).toEqual([['initrd-read-timeout', 'warning']]);
  });

  it('a monolithic kernel (no module files, empty modules.dep, none before) is fine', () => {
    expect(compareInitrd(synthetic(0, { modulesDep: { [V]: 0 } }), synthetic(0, { modulesDep: { [V]: 0 } }))).toEqual([]);
  });

  it('root drivers without a module list (a note) check nothing', () => {
    expect(compareInitrd(synthetic(0), undefined, { modules: [], builtin: ['virtio_blk'], note: 'container' })).toEqual([]);
  });
});

describe('diffInitrd', () => {
  it('module and config differences between the good and the broken real image', () => {
    const good = summaryOf('bookworm-6.1-most-zstd.txt.gz');
    const broken = summaryOf('bookworm-6.1-depmod-empty-zstd.txt');
    const d = diffInitrd(broken, good);
    expect(d.live.moduleFiles).toBe(0);
    expect(d.previous.moduleFiles).toBe(759);
    expect(d.modulesAdded).toEqual([]);
    expect(d.modulesRemoved.length).toBe(759);
    expect(d.modulesRemoved).toContain('virtio_blk');
    expect(d.configsChanged).toEqual([]);
  });

  it('changed, added and removed config files by name, sorted', () => {
    const prev = synthetic(3, { configs: { 'etc/mdadm/mdadm.conf': { size: 5, sha256: 'a' }, 'conf/conf.d/resume': { size: 3, sha256: 'r' }, 'etc/fstab': { size: 0, sha256: 'e' } } });
    const live = synthetic(4, {
      configs: { 'etc/mdadm/mdadm.conf': { size: 5, sha256: 'b' }, 'cryptroot/crypttab': { size: 9, sha256: 'c' }, 'etc/fstab': { size: 0, sha256: 'e' } },
    });
    const d = diffInitrd(live, prev);
    expect(d.configsChanged).toEqual(['etc/mdadm/mdadm.conf']);
    expect(d.configsAdded).toEqual(['cryptroot/crypttab']);
    expect(d.configsRemoved).toEqual(['conf/conf.d/resume']);
    expect(d.modulesAdded).toEqual(['mod3']);
  });

  it('a file whose hash could not be read counts as changed only if its size changed', () => {
    const prev = synthetic(1, { configs: { 'etc/fstab': { size: 10 }, 'etc/crypttab': { size: 5 } } });
    const live = synthetic(1, { configs: { 'etc/fstab': { size: 10, sha256: 'x' }, 'etc/crypttab': { size: 6, sha256: 'y' } } });
    expect(diffInitrd(live, prev).configsChanged).toEqual(['etc/crypttab']);
  });
});
