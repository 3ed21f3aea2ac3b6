// Which previous image a live initrd is judged against, and what the judgement says across kernel
// versions (a new-ABI update) and under dracut. Pure, in memory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { rebuildInitrdCommand } from '../../src/core/model/advice';
import { chooseBaseline, kernelFlavour, type BaselineCandidates } from '../../src/core/model/initrd-baseline';
import { compareInitrd, parseListing, summarizeListing, unkeptRebuildProblem, type InitrdSummary } from '../../src/core/model/initrd-health';

const OLD = '6.1.0-50-amd64';
const NEW = '6.1.0-57-amd64';
const initrdOf = (v: string) => `/r/boot/initrd.img-${v}`;

describe('kernelFlavour', () => {
  it.each([
    ['6.1.0-57-amd64', 'amd64'],
    ['6.1.0-18-cloud-amd64', 'cloud-amd64'],
    ['6.1.0-18-rt-amd64', 'rt-amd64'],
    ['6.12.48+deb13-amd64', 'amd64'],
    ['6.12.48+deb13-cloud-amd64', 'cloud-amd64'],
    ['6.12.48+deb13-arm64-16k', 'arm64-16k'],
    ['6.8.0', undefined],
    ['6.8.0-1', undefined],
  ])('%s → %s', (version, flavour) => {
    expect(kernelFlavour(version)).toBe(flavour);
  });
});

describe('chooseBaseline', () => {
  const base = (extra: Partial<BaselineCandidates>): BaselineCandidates => ({ version: NEW, livePath: initrdOf(NEW), liveVersions: [NEW, OLD], initrdOf, ...extra });
  const backup = { id: `${NEW}~~backup202611222040`, path: `/r/boot/initrd.img-${NEW}~~backup202611222040` };
  const knownGood = { version: OLD, path: initrdOf(OLD), setId: null };

  it.each<[string, Partial<BaselineCandidates>, { role: string; version: string; path: string } | undefined]>([
    ['a backup of the same version comes first', { newestBackup: backup, knownGood, running: OLD }, { role: 'backup', version: NEW, path: backup.path }],
    ['then the known-good boot', { knownGood, running: '6.1.0-40-amd64', liveVersions: [NEW, OLD, '6.1.0-40-amd64'] }, { role: 'known-good', version: OLD, path: initrdOf(OLD) }],
    ['a known-good that is the live file itself is no baseline', { knownGood: { version: NEW, path: initrdOf(NEW) }, running: OLD }, { role: 'running', version: OLD, path: initrdOf(OLD) }],
    ['then the running kernel, when installed', { running: OLD, liveVersions: [NEW, '6.1.0-55-amd64', OLD] }, { role: 'running', version: OLD, path: initrdOf(OLD) }],
    ['a running kernel that is not installed (or under --root: none) falls to the previous default', { running: '6.1.0-9-amd64' }, { role: 'previous-default', version: OLD, path: initrdOf(OLD) }],
    ['the running kernel is the live one itself', { running: NEW }, { role: 'previous-default', version: OLD, path: initrdOf(OLD) }],
    ['the previous default skips other flavours', { liveVersions: [NEW, '6.1.0-57-cloud-amd64', OLD] }, { role: 'previous-default', version: OLD, path: initrdOf(OLD) }],
    ['an older kernel is judged against the next older one', { version: OLD, livePath: initrdOf(OLD), liveVersions: [NEW, OLD, '6.1.0-40-amd64'] }, { role: 'older', version: '6.1.0-40-amd64', path: initrdOf('6.1.0-40-amd64') }],
    ['never against a newer kernel', { version: OLD, livePath: initrdOf(OLD) }, undefined],
    ['nothing of the same flavour', { liveVersions: [NEW, '6.1.0-50-cloud-amd64'] }, undefined],
    ['trixie versions', { version: '6.12.57+deb13-amd64', livePath: initrdOf('6.12.57+deb13-amd64'), liveVersions: ['6.12.57+deb13-amd64', '6.12.48+deb13-amd64'] }, { role: 'previous-default', version: '6.12.48+deb13-amd64', path: initrdOf('6.12.48+deb13-amd64') }],
  ])('%s', (_name, extra, expected) => {
    const b = chooseBaseline(base(extra));
    if (expected === undefined) expect(b).toBeUndefined();
    else expect(b).toMatchObject(expected);
  });
});

/** A summary of `n` modules named mod0…, plus the given real names; modules.dep sound unless said. */
function summary(version: string, n: number, extra: Partial<InitrdSummary> & { names?: string[] } = {}): InitrdSummary {
  const { names = [], ...rest } = extra;
  const modules = [...Array.from({ length: n }, (_, i) => `mod${i}`), ...names].sort();
  return {
    path: `/r/boot/initrd.img-${version}`,
    nameVersion: version,
    entries: modules.length + 10,
    kernelVersions: [version],
    modules,
    moduleFiles: modules.length,
    modulesDep: { [version]: modules.length * 40 },
    configs: {},
    ...rest,
  };
}

const codes = (ps: { code: string }[]) => ps.map((p) => p.code);

describe('compareInitrd across versions', () => {
  it('names both images and the baseline\'s role: the new-ABI outage', () => {
    const problems = compareInitrd(summary(NEW, 12), summary(OLD, 831, { names: ['virtio_blk', 'ext4'] }), undefined, { role: 'previous-default' });
    expect(codes(problems)).toEqual(['initrd-modules-dropped']);
    expect(problems[0]!.message).toMatch(
      new RegExp(`^initrd\\.img-${NEW} has 12 modules where initrd\\.img-${OLD} \\(the previous default\\) had 833 \\(gone: ext4, virtio_blk\\): `),
    );
    // modules.dep is sound here, so the advice does not blame it
    expect(problems[0]!.message).not.toContain('modules.dep');
    expect(problems[0]!.message).toContain(`update-initramfs -u -k ${NEW}`);
  });

  // Two ABIs of one flavour hold nearly the same modules: the thresholds must not fire on them. The
  // bookworm 6.1 image with MODULES=most holds 759 module files (test/fixtures/initrd).
  it.each([
    [759, 781, false],
    [759, 740, false],
    [759, 700, false],
    [759, 380, false], // exactly half is not below half
    [759, 379, true],
    [759, 12, true],
  ])('previous %i, live %i modules of another ABI: dropped = %s', (before, after, dropped) => {
    expect(codes(compareInitrd(summary(NEW, after), summary(OLD, before), undefined, { role: 'running' })).includes('initrd-modules-dropped')).toBe(dropped);
  });

  it('modules.dep is named as the cause only when it is broken', () => {
    const problems = compareInitrd(summary(NEW, 0, { modulesDep: { [NEW]: 0 }, names: [] }), summary(OLD, 759), undefined, { role: 'previous-default' });
    expect(codes(problems)).toEqual(['initrd-modules-dep-empty', 'initrd-modules-dropped']);
    expect(problems[1]!.message).toContain(`once modules.dep is sound`);
    expect(problems[0]!.message).toContain(`run depmod ${NEW}, then update-initramfs -u -k ${NEW}`);
  });

  it('a storage driver gone with modules.dep intact is flagged, unless the new kernel builds it in', () => {
    const prev = summary(OLD, 759, { names: ['virtio_blk', 'nvme', 'ext4'] });
    const live = summary(NEW, 760, { names: ['nvme', 'ext4'] });
    const problems = compareInitrd(live, prev, undefined, { role: 'previous-default' });
    expect(codes(problems)).toEqual(['initrd-modules-dropped']);
    expect(problems[0]!.message).toBe(
      `initrd.img-${NEW} lacks virtio_blk, which initrd.img-${OLD} (the previous default) held: a disk or file system behind it will not be found at boot; ` +
        `add it to /etc/initramfs-tools/modules (or set MODULES=most in /etc/initramfs-tools/initramfs.conf) and run update-initramfs -u -k ${NEW}; until then boot the previous entry if it fails`,
    );
    expect(compareInitrd(live, prev, undefined, { role: 'previous-default', builtin: new Set(['virtio_blk']) })).toEqual([]);
    // Where the root's driver chain is known, it decides: virtio_blk matters only if / is behind it.
    expect(compareInitrd(live, prev, { device: '/dev/nvme0n1p2', modules: ['nvme', 'ext4'], builtin: [] }, { role: 'previous-default' })).toEqual([]);
    expect(codes(compareInitrd(live, prev, { device: '/dev/vda1', modules: ['virtio_blk', 'ext4'], builtin: [] }, { role: 'previous-default' }))).toEqual(['initrd-root-driver-missing']);
    // other modules coming and going between ABIs are no problem
    expect(compareInitrd(summary(NEW, 700, { names: ['virtio_blk'] }), summary(OLD, 720, { names: ['virtio_blk'] }), undefined, { role: 'running' })).toEqual([]);
  });

  it('configuration is compared with the same kernel\'s image only', () => {
    const live = summary(NEW, 759, { configs: { 'conf/conf.d/resume': { size: 10, sha256: 'a' } } });
    const other = summary(OLD, 759, { configs: { 'conf/conf.d/resume': { size: 10, sha256: 'b' } } });
    expect(compareInitrd(live, other, undefined, { role: 'previous-default' })).toEqual([]);
    const sameKernelKnownGood = { ...other, path: `/r/boot/initrd.img-${NEW}~~backup202611222040`, nameVersion: NEW };
    expect(codes(compareInitrd(live, sameKernelKnownGood, undefined, { role: 'known-good' }))).toEqual(['initrd-config-changed']);
  });

  it('on the real bookworm listings: the good image against itself as another kernel is clean, the broken one is not', () => {
    const FIXTURES = path.join(__dirname, '../fixtures/initrd');
    const read = (name: string, version: string): InitrdSummary => {
      const raw = fs.readFileSync(path.join(FIXTURES, name));
      const facts = summarizeListing(parseListing(name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8')));
      return { path: `/r/boot/initrd.img-${version}`, nameVersion: version, entries: facts.entries, kernelVersions: facts.kernelVersions, modules: facts.modules, moduleFiles: facts.moduleFiles, modulesDep: facts.modulesDep, configs: {} };
    };
    const good = read('bookworm-6.1-most-zstd.txt.gz', '6.1.0-50-amd64');
    const broken = { ...read('bookworm-6.1-depmod-empty-zstd.txt', '6.1.0-50-amd64'), path: `/r/boot/initrd.img-${NEW}` };
    expect(compareInitrd({ ...good, path: `/r/boot/initrd.img-${NEW}` }, good, undefined, { role: 'previous-default' })).toEqual([]);
    expect(codes(compareInitrd(broken, good, undefined, { role: 'previous-default' }))).toEqual(['initrd-modules-dep-empty', 'initrd-modules-dropped']);
  });
});

describe('advice names the installed generator', () => {
  it.each([
    ['initramfs-tools', `update-initramfs -u -k ${NEW}`, '/etc/initramfs-tools/modules'],
    ['dracut', `dracut -f --kver ${NEW}`, 'add_drivers+=" virtio_blk "'],
  ] as const)('%s', (generator, command, addModules) => {
    expect(rebuildInitrdCommand(NEW, generator)).toBe(command);
    const problems = compareInitrd(summary(NEW, 0, { modulesDep: { [NEW]: 0 } }), summary(OLD, 759), { device: '/dev/vda1', modules: ['virtio_blk'], builtin: [] }, { role: 'running', generator });
    expect(codes(problems)).toEqual(['initrd-modules-dep-empty', 'initrd-modules-dropped', 'initrd-root-driver-missing']);
    for (const p of problems) expect(p.message).toContain(command);
    expect(problems[2]!.message).toContain(addModules);
    const other = generator === 'dracut' ? 'update-initramfs' : 'dracut';
    for (const p of problems) expect(p.message).not.toContain(other);
  });

  it('dracut without a boot record: check says once that rebuilds are not kept', () => {
    expect(unkeptRebuildProblem('dracut', false)).toMatchObject({ code: 'initrd-rebuilt-unkept', severity: 'warning' });
    expect(unkeptRebuildProblem('dracut', false)!.message).toContain('kbackup snapshot');
    expect(unkeptRebuildProblem('dracut', true)).toBeUndefined();
    expect(unkeptRebuildProblem('initramfs-tools', false)).toBeUndefined();
  });
});

describe('real Debian 13 listings', () => {
  const T = '6.12.117+deb13-amd64';
  const read = (name: string): InitrdSummary => {
    const facts = summarizeListing(parseListing(gunzipSync(fs.readFileSync(path.join(__dirname, '../fixtures/initrd', name))).toString('utf8')));
    return { path: `/r/boot/initrd.img-${T}`, nameVersion: T, entries: facts.entries, kernelVersions: facts.kernelVersions, modules: facts.modules, moduleFiles: facts.moduleFiles, modulesDep: facts.modulesDep, configs: {} };
  };

  it.each([
    ['trixie-6.12-initramfs-tools-0.148-zstd.txt.gz', 831, 86713],
    ['trixie-6.12-dracut-lsinitrd-zstd.txt.gz', 783, 74546],
  ])('%s: %i module files, modules.dep %i bytes, the root disk drivers present', (name, moduleFiles, dep) => {
    const s = read(name);
    expect(s.kernelVersions).toEqual([T]);
    expect(s.moduleFiles).toBe(moduleFiles);
    expect(s.modulesDep).toEqual({ [T]: dep });
    expect(s.modules).toEqual(expect.arrayContaining(['virtio_blk', 'virtio_scsi', 'nvme', 'ahci', 'sd_mod']));
  });

  it('a trixie kernel judged against the bookworm one it replaced (a release upgrade) is no problem; an empty one is', () => {
    const bookworm = summarizeListing(parseListing(gunzipSync(fs.readFileSync(path.join(__dirname, '../fixtures/initrd/bookworm-6.1-most-zstd.txt.gz'))).toString('utf8')));
    const previous: InitrdSummary = { path: `/r/boot/initrd.img-${OLD}`, nameVersion: OLD, entries: bookworm.entries, kernelVersions: bookworm.kernelVersions, modules: bookworm.modules, moduleFiles: bookworm.moduleFiles, modulesDep: bookworm.modulesDep, configs: {} };
    // The bookworm image was built with mdadm installed, the trixie ones without: where the root's
    // driver chain is known, md modules are no loss; where it is not, they are taken for one.
    const rootOnVirtio = { device: '/dev/vda1', modules: ['virtio_blk', 'ext4'], builtin: [] };
    for (const name of ['trixie-6.12-initramfs-tools-0.148-zstd.txt.gz', 'trixie-6.12-dracut-lsinitrd-zstd.txt.gz']) {
      expect(compareInitrd(read(name), previous, rootOnVirtio, { role: 'previous-default' }), name).toEqual([]);
      expect(compareInitrd(read(name), previous, undefined, { role: 'previous-default' })[0]?.message, name).toMatch(/lacks (md_mod, )?raid0, raid1, raid10, raid456, which/);
    }
    // initramfs-tools and dracut images of one kernel (831 and 783 module files) hold the same storage drivers.
    expect(compareInitrd(read('trixie-6.12-dracut-lsinitrd-zstd.txt.gz'), read('trixie-6.12-initramfs-tools-0.148-zstd.txt.gz'), undefined, { role: 'running' })).toEqual([]);
    const empty = { ...read('trixie-6.12-dracut-lsinitrd-zstd.txt.gz'), modules: [], moduleFiles: 0, modulesDep: { [T]: 0 } };
    expect(codes(compareInitrd(empty, read('trixie-6.12-dracut-lsinitrd-zstd.txt.gz'), undefined, { role: 'previous-default', generator: 'dracut' }))).toEqual([
      'initrd-modules-dep-empty',
      'initrd-modules-dropped',
    ]);
  });
});
