import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BOOTS_KEPT,
  bootImageFromCmdline,
  bootImageName,
  bootTimes,
  initrdNameForImage,
  knownGood,
  knownGoodSetIds,
  validateBoots,
  withBoot,
  type BootRecord,
} from '../../src/core/model/boots';
import { findEntryFor, menuEntries } from '../../src/core/model/grub/entries';
import { parseGrubCfg } from '../../src/core/model/grub/grub-cfg';

const V = '6.1.0-18-amd64';

function rec(over: Partial<BootRecord> & { time: string }): BootRecord {
  return {
    bootId: `id-${over.time}`,
    version: V,
    image: `/boot/vmlinuz-${V}`,
    initrd: `/boot/initrd.img-${V}`,
    imageSha256: 'k1',
    initrdSha256: 'i1',
    setId: null,
    trial: null,
    ...over,
  };
}

describe('boot records', () => {
  it('the known-good is the record made last, whatever clock it carries (a boot whose RTC said 2099 does not stay the known-good)', () => {
    const a = rec({ time: '2026-11-01T10:00:00.000Z', imageSha256: 'a', bootId: 'a' });
    const future = rec({ time: '2099-01-01T00:00:00.000Z', imageSha256: 'future', bootId: 'future' });
    const c = rec({ time: '2026-11-03T10:00:00.000Z', imageSha256: 'c', bootId: 'c' });
    let boots = withBoot(withBoot([a], future), c);
    expect(boots.map((b) => b.imageSha256)).toEqual(['a', 'future', 'c']);
    expect(knownGood(boots)?.imageSha256).toBe('c');
    const d = rec({ time: '2026-11-04T10:00:00.000Z', imageSha256: 'd', bootId: 'd' });
    boots = withBoot(boots, d);
    expect(knownGood(boots)?.imageSha256).toBe('d');
    expect(knownGood([])).toBeUndefined();
  });

  it('the known-good record is never dropped by the limit, however many unhealthy boots follow it', () => {
    let boots: BootRecord[] = [rec({ time: '2026-01-01T00:00:00.000Z', imageSha256: 'good', bootId: 'good' })];
    for (let i = 0; i < BOOTS_KEPT + 3; i++) {
      boots = withBoot(boots, rec({ time: new Date(Date.UTC(2026, 1, 1 + i)).toISOString(), bootId: `bad${i}`, verdict: { good: false, problems: ['no network'] } }));
    }
    expect(boots).toHaveLength(BOOTS_KEPT);
    expect(knownGood(boots)?.imageSha256).toBe('good');
    expect(boots.at(-1)!.bootId).toBe(`bad${BOOTS_KEPT + 2}`);
  });

  it('one record per boot, newest last, only the last 20 kept', () => {
    let boots: BootRecord[] = [];
    for (let i = 0; i < BOOTS_KEPT + 5; i++) boots = withBoot(boots, rec({ time: new Date(Date.UTC(2026, 0, 1 + i)).toISOString() }));
    expect(boots).toHaveLength(BOOTS_KEPT);
    expect(boots.at(-1)!.time).toBe(new Date(Date.UTC(2026, 0, BOOTS_KEPT + 5)).toISOString());
    const again = withBoot(boots, { ...boots.at(-1)!, time: '2027-01-01T00:00:00.000Z' });
    expect(again).toHaveLength(BOOTS_KEPT);
    expect(again.filter((r) => r.bootId === boots.at(-1)!.bootId)).toHaveLength(1);
  });

  it('a second run in the same boot keeps the trial mark of the first', () => {
    const first = rec({ time: '2026-11-01T10:00:00.000Z', trial: 'promoted' });
    const rerun = rec({ time: '2026-11-01T10:05:00.000Z', bootId: first.bootId });
    expect(withBoot([first], rerun)).toEqual([{ ...rerun, trial: 'promoted' }]);
  });

  it('validates the file: not an array is a reason; a record this version does not understand is kept apart, never dropped', () => {
    const good = rec({ time: '2026-11-01T10:00:00.000Z' });
    expect(validateBoots([good])).toEqual({ boots: [good], unknown: [] });
    expect(validateBoots([])).toEqual({ boots: [], unknown: [] });
    expect(validateBoots({ boots: [] })).toEqual({ reason: 'not a JSON array of boot records' });
    expect(validateBoots([{ time: 'x' }, good])).toEqual({ boots: [good], unknown: [{ time: 'x' }] });
    expect(validateBoots(null)).toHaveProperty('reason');
  });

  it.each([
    ['BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro quiet', '/boot/vmlinuz-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64'],
    ['BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=/dev/sda2 ro', '/vmlinuz-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64'],
    ['BOOT_IMAGE=(hd0,gpt2)/@/boot/kernel-6.1.0-18-amd64~~backup202611222040 ro', '(hd0,gpt2)/@/boot/kernel-6.1.0-18-amd64~~backup202611222040', 'kernel-6.1.0-18-amd64~~backup202611222040'],
  ])('BOOT_IMAGE from %s', (cmdline, image, name) => {
    expect(bootImageFromCmdline(cmdline)).toBe(image);
    expect(bootImageName(image)).toBe(name);
  });

  it('no BOOT_IMAGE: not started by GRUB', () => {
    expect(bootImageFromCmdline('root=/dev/vda1 ro console=ttyS0')).toBeUndefined();
    expect(bootImageFromCmdline('initrd=\\initrd.img root=/dev/vda1')).toBeUndefined();
  });

  it.each([
    ['vmlinuz-6.1.0-18-amd64', 'initrd.img-6.1.0-18-amd64'],
    ['kernel-6.1.0-18-amd64~~backup202611222040', 'initrd.img-6.1.0-18-amd64~~backup202611222040'],
    ['vmlinuz-6.1.0-18-amd64~~backup202611222040', 'initrd.img-6.1.0-18-amd64~~backup202611222040'],
    ['vmlinux-6.1.0-18-powerpc64', 'initrd.img-6.1.0-18-powerpc64'],
    ['bzImage', undefined],
  ])('the initrd of %s is %s', (image, initrd) => {
    expect(initrdNameForImage(image)).toBe(initrd);
  });

  it('the known-good set: the set it booted from, and every set with the same files', () => {
    const good = rec({ time: '2026-11-02T10:00:00.000Z', imageSha256: 'k2', initrdSha256: 'i2' });
    const older = rec({ time: '2026-11-01T10:00:00.000Z', imageSha256: 'k1', initrdSha256: 'i1' });
    const sets = [
      { id: `${V}~~backup202611010000`, imageSha256: 'k1', initrdSha256: 'i1' },
      { id: `${V}~~backup202611020000`, imageSha256: 'k2', initrdSha256: 'i2' },
      { id: `${V}~~backup202611030000`, imageSha256: 'k2', initrdSha256: 'i3' },
      { id: `${V}~~backup202611040000` },
    ];
    expect(knownGoodSetIds([older, good], sets)).toEqual([`${V}~~backup202611020000`]);
    expect(knownGoodSetIds([older, { ...good, setId: `${V}~~backup202611040000` }], sets)).toEqual([`${V}~~backup202611020000`, `${V}~~backup202611040000`]);
    expect(knownGoodSetIds([], sets)).toEqual([]);
    expect(bootTimes([older, good], sets[0]!)).toEqual([older.time]);
  });
});

describe('grub.cfg entries for a trial', () => {
  const menu = parseGrubCfg(fs.readFileSync(path.join(__dirname, '../fixtures/grub/grub.cfg'), 'utf8'));

  it('finds the "Advanced options" entry of a kernel, addressed through its submenu', () => {
    expect(findEntryFor(menu, `vmlinuz-${V}`, `initrd.img-${V}`)?.spec).toBe(`gnulinux-advanced-0000-test>gnulinux-${V}-advanced-0000-test`);
    expect(findEntryFor(menu, `kernel-${V}~~backup202611222040`)?.spec).toBe(
      `gnulinux-advanced-0000-test>gnulinux-${V}~~backup202611222040-advanced-0000-test`,
    );
    expect(findEntryFor(menu, 'vmlinuz-9.9.9-amd64')).toBeUndefined();
  });

  it('an initrd that is not the one booted does not match', () => {
    expect(findEntryFor(menu, `vmlinuz-${V}`, 'initrd.img-other')).toBeUndefined();
  });

  it('GRUB_DISABLE_SUBMENU=y: the entries are top-level and their ids alone select them', () => {
    const flat = parseGrubCfg(
      [
        "menuentry 'Debian GNU/Linux, with Linux 6.1.0-18-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-18-amd64-advanced-u' {",
        '\tlinux /boot/vmlinuz-6.1.0-18-amd64 root=UUID=u ro quiet',
        '\tinitrd /boot/initrd.img-6.1.0-18-amd64',
        '}',
        "menuentry 'Debian GNU/Linux, with Linux 6.1.0-18-amd64 (recovery mode)' $menuentry_id_option 'gnulinux-6.1.0-18-amd64-recovery-u' {",
        '\tlinux /boot/vmlinuz-6.1.0-18-amd64 root=UUID=u ro single',
        '\tinitrd /boot/initrd.img-6.1.0-18-amd64',
        '}',
      ].join('\n'),
    );
    expect(findEntryFor(flat, `vmlinuz-${V}`, `initrd.img-${V}`)?.spec).toBe(`gnulinux-${V}-advanced-u`);
    expect(menuEntries(flat).map((e) => e.spec)).toEqual([`gnulinux-${V}-advanced-u`, `gnulinux-${V}-recovery-u`]);
  });

  it('a ">" in an id is doubled, as GRUB reads default', () => {
    const m = parseGrubCfg("submenu 'S' --id 'a>b' {\n menuentry 'E' --id 'c' {\n linux /vmlinuz-1\n }\n}\n");
    expect(menuEntries(m)[0]!.spec).toBe('a>>b>c');
  });
});
