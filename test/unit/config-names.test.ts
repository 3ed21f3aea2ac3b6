import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, minFreeBytes, parseConfig } from '../../src/core/model/config';
import { backupFileName, formatStamp, isBackupFileName, parseBootName, versionProblem } from '../../src/core/model/names';

describe('parseConfig', () => {
  it('reads the shipped defaults, comments, quotes and export', () => {
    const c = parseConfig('# kbackup\nENABLED=yes\nKEEP="7"   # seven\nexport FILES=\'vmlinuz initrd.img\'\nMIN_FREE_MB=64\nON_ERROR=fail\nON_PURGE=remove\nTRIAL_BOOT=yes\n', 'f');
    expect(c).toEqual({ enabled: true, keep: 7, files: ['vmlinuz', 'initrd.img'], minFreeMb: 64, onError: 'fail', onPurge: 'remove', trialBoot: true, trialDeadlineSeconds: 600 });
    expect(parseConfig('', 'f')).toEqual(DEFAULT_CONFIG);
  });
  it.each([
    ['KEEP=100', 'f:1: KEEP="100" is not valid (accepted: a whole number from 0 to 99)'],
    ['KEEP=-1', 'accepted: a whole number from 0 to 99'],
    ['ENABLED=true', 'ENABLED="true" is not valid (accepted: yes, no)'],
    ['ON_ERROR=stop', '(accepted: warn, fail)'],
    ['ON_PURGE=delete', '(accepted: keep, remove)'],
    ['TRIAL_BOOT=1', 'TRIAL_BOOT="1" is not valid (accepted: yes, no)'],
    ['MIN_FREE_MB=lots', '(accepted: auto, or a whole number of MiB)'],
    ['TRIAL_DEADLINE=60', 'f:1: TRIAL_DEADLINE="60" is not valid (accepted: seconds from 180 to 86400, e.g. 600 or 10min)'],
    ['TRIAL_DEADLINE=2d', 'TRIAL_DEADLINE="2d" is not valid'],
    ['TRIAL_DEADLINE=25h', 'accepted: seconds from 180 to 86400'],
    ['FILES=initrd.img', 'FILES must include the kernel image'],
    ['FILES=vmlinuz', 'FILES must include initrd.img'],
    ['FILES="vmlinuz initrd.img ../x"', 'FILES entry "../x" is not valid'],
    ['KEEP=$(rm -rf /)', 'cannot read without a shell'],
    ['BOGUS=1', 'unknown key BOGUS'],
    ['just words', 'expected KEY=value'],
    ['KEEP=1\nKEEP=2', 'f:2: KEEP is already set on line 1'],
    ['KEEP= 3', 'f:1: no space is allowed after KEEP= (write KEEP=3)'],
  ])('rejects %j', (text, message) => {
    expect(() => parseConfig(text, 'f')).toThrow(message);
  });
  it.each([
    ['TRIAL_DEADLINE=600', 600],
    ['TRIAL_DEADLINE=15min', 900],
    ['TRIAL_DEADLINE="180s"', 180],
    ['', 600],
  ])('reads %j as a deadline of %d s', (text, seconds) => {
    expect(parseConfig(text, 'f').trialDeadlineSeconds).toBe(seconds);
  });
  it('computes MIN_FREE_MB=auto as 1.2 x (vmlinuz + initrd) + 16 MiB', () => {
    expect(minFreeBytes(DEFAULT_CONFIG, 100 * 1024 * 1024)).toBe(Math.ceil(120 * 1024 * 1024) + 16 * 1024 * 1024);
    expect(minFreeBytes({ ...DEFAULT_CONFIG, minFreeMb: 5 }, 1)).toBe(5 * 1024 * 1024);
  });
});

describe('names', () => {
  it('formats the UTC timestamp', () => {
    expect(formatStamp(new Date('2026-11-22T20:40:59Z'))).toBe('202611222040');
  });
  it.each([
    ['vmlinuz-6.1.0-18-amd64', { kind: 'live', stem: 'vmlinuz', version: '6.1.0-18-amd64' }],
    ['kernel-6.1.0-18-amd64~~backup202611222040', { kind: 'backup', stem: 'vmlinuz', version: '6.1.0-18-amd64', stamp: '202611222040', seq: 1 }],
    ['initrd.img-6.1.0-18-amd64~~backup202611222040.2', { kind: 'backup', stem: 'initrd.img', seq: 2 }],
    ['vmlinuz-6.1.0-18-amd64~~backup201407021638', { kind: 'legacy', stem: 'vmlinuz' }],
    ['System.map-6.1.0-18-amd64~~backup202611222040', { kind: 'backup', stem: 'System.map' }],
  ])('parses %s', (name, expected) => {
    expect(parseBootName(name)).toMatchObject(expected);
  });
  it.each(['kernel-6.1.0-18-amd64', 'initrd.img-6.1.0-18-amd64.dpkg-bak', 'vmlinuz-6.1.0-18-amd64.dpkg-new', '.kbackup-tmp-x', 'grub', 'notes~~backup202611222040', 'vmlinuz-6.1~~backup2026'])(
    'ignores %s',
    (name) => {
      expect(parseBootName(name)?.kind === 'backup' || parseBootName(name)?.kind === 'legacy').toBe(false);
      expect(isBackupFileName(name)).toBe(false);
    },
  );
  it('names the kernel image backup kernel-V, everything else stem-V', () => {
    expect(backupFileName('vmlinuz', 'V', '~~backup1')).toBe('kernel-V~~backup1');
    expect(backupFileName('initrd.img', 'V', '~~backup1')).toBe('initrd.img-V~~backup1');
  });
  it.each(['', '.', '..', '../x', 'a/b', 'a\nb', 'a b', 'x'.repeat(201), 'a~~b', '-rf'])('refuses version %j', (v) => {
    expect(versionProblem(v)).toBeDefined();
  });
  it.each(['6.1.0-18-amd64', '6.12.9+bpo-cloud-amd64', '5.10.0-0.deb10.16-rt-amd64', '6.1.0-18-amd64+kbtest1'])('accepts %s', (v) => {
    expect(versionProblem(v)).toBeUndefined();
  });
});
