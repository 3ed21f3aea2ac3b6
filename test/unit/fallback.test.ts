// The fallback model: apt.conf.d entries (no backslash, metacharacters as classes, matching exactly
// the kernel's packages), when a boot is a fallback, the textfile and the Nagios line.
import { describe, expect, it } from 'vitest';
import type { BootRecord } from '../../src/core/model/boots';
import {
  aptConfText,
  fallbackOfBoot,
  kernelPackagePatterns,
  keptReleases,
  nagiosLine,
  prometheusText,
  releaseRegex,
} from '../../src/core/model/fallback';

const boot = (over: Partial<BootRecord> = {}): BootRecord => ({
  time: '2026-12-01T10:00:00.000Z',
  bootId: 'b1',
  version: '6.1.0-50-amd64',
  image: '/boot/vmlinuz-6.1.0-50-amd64',
  initrd: '/boot/initrd.img-6.1.0-50-amd64',
  imageSha256: 'a',
  initrdSha256: 'b',
  setId: null,
  trial: null,
  grub: true,
  ...over,
});

describe('apt.conf.d entries', () => {
  it.each([
    ['6.1.0-50-amd64', 'linux-image-6.1.0-50-amd64', ['linux-image-6x1x0-50-amd64', 'linux-image-6.1.0-50-amd64-dbg', 'xlinux-image-6.1.0-50-amd64', 'linux-image-6.1.0-5-amd64']],
    ['6.12.43+deb13-amd64', 'linux-image-6.12.43+deb13-amd64', ['linux-image-6.12.43deb13-amd64', 'linux-image-6.12.43++deb13-amd64', 'linux-image-6.12.43+deb13-cloud-amd64']],
  ])('%s: keeps exactly its own image package (and -unsigned), with classes instead of backslashes', (release, pkg, others) => {
    const patterns = kernelPackagePatterns(release);
    const text = aptConfText([release]);
    expect(text).not.toContain('\\');
    for (const p of patterns) expect(text).toContain(`"${p}";`);
    const keeps = (name: string) => patterns.some((p) => new RegExp(p).test(name));
    expect(keeps(pkg)).toBe(true);
    expect(keeps(`${pkg}-unsigned`)).toBe(true);
    for (const o of others) expect(keeps(o), o).toBe(false);
  });

  it('refuses a release that could break out of the quoted value or the regex', () => {
    for (const bad of ['6.1"; APT::X "y', '6.1\\x', '6.1 0', '6.1(0)', '6.1$', '']) {
      expect(releaseRegex(bad), bad).toBeUndefined();
      expect(kernelPackagePatterns(bad)).toEqual([]);
    }
    expect(keptReleases(boot({ version: '6.1"x' }), undefined)).toEqual([]);
  });

  it('keeps the known-good and the failed trial fallback, once each', () => {
    const f = fallbackOfBoot(boot(), 'failed', '/boot/vmlinuz-6.1.0-51-amd64', 'vmlinuz-6.1.0-51-amd64')!;
    expect(keptReleases(boot({ version: '6.1.0-49-amd64' }), f)).toEqual(['6.1.0-49-amd64', '6.1.0-50-amd64']);
    expect(keptReleases(boot(), f)).toEqual(['6.1.0-50-amd64']);
  });
});

describe('fallbackOfBoot', () => {
  it('a failed trial is a fallback, whatever the default', () => {
    expect(fallbackOfBoot(boot(), 'failed', '/boot/vmlinuz-6.1.0-51-amd64', 'vmlinuz-6.1.0-50-amd64')).toMatchObject({
      reason: 'trial-failed',
      version: '6.1.0-50-amd64',
      defaultImage: '/boot/vmlinuz-6.1.0-51-amd64',
    });
  });
  it('a boot of another kernel than GRUB default is one; a boot of the default or without a grub.cfg is none', () => {
    expect(fallbackOfBoot(boot(), 'none', null, 'vmlinuz-6.1.0-51-amd64')).toMatchObject({ reason: 'not-default', defaultImage: '/boot/vmlinuz-6.1.0-51-amd64' });
    expect(fallbackOfBoot(boot(), 'none', null, 'vmlinuz-6.1.0-50-amd64')).toBeUndefined();
    expect(fallbackOfBoot(boot(), 'none', null, null)).toBeUndefined();
  });
});

describe('prometheusText', () => {
  it('says what a fleet alerts on, one HELP and TYPE per metric', () => {
    const text = prometheusText({
      runningRelease: '6.1.0-50-amd64',
      knownGood: boot(),
      trialState: 'failed',
      lastTrial: { result: 'fallback', time: '2026-12-01T10:00:00.000Z' },
      fallback: fallbackOfBoot(boot(), 'failed', '/boot/vmlinuz-6.1.0-51-amd64', null)!,
      keptFromAutoremove: true,
      backupSets: 3,
      bootFreeBytes: 123456,
    });
    expect(text).toContain('kbackup_running_known_good 1\n');
    expect(text).toContain('kbackup_known_good_info{release="6.1.0-50-amd64",image="/boot/vmlinuz-6.1.0-50-amd64"} 1\n');
    expect(text).toContain(`kbackup_known_good_boot_timestamp_seconds ${Date.parse('2026-12-01T10:00:00Z') / 1000}\n`);
    expect(text).toContain('kbackup_trial_state{state="failed"} 1\n');
    expect(text).toContain('kbackup_trial_state{state="none"} 0\n');
    expect(text).toContain('kbackup_last_trial_success 0\n');
    expect(text).toContain('kbackup_fallback_active{reason="trial-failed"} 1\n');
    expect(text).toContain('kbackup_fallback_kept_from_autoremove 1\n');
    expect(text).toContain('kbackup_backup_sets 3\n');
    expect(text).toContain('kbackup_boot_free_bytes 123456\n');
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE'));
    expect(new Set(types).size).toBe(types.length);
  });
});

describe('nagiosLine', () => {
  it('maps errors to CRITICAL (2), warnings to WARNING (1), nothing to OK (0), one line with perfdata', () => {
    const perf = { backupSets: 2, bootFreeBytes: 1000, fallback: false };
    expect(nagiosLine([], perf)).toMatchObject({ code: 0, line: expect.stringMatching(/^KBACKUP OK - .* \| fallback=0;;1;0;1 backup_sets=2;;;0; boot_free=1000B;;;0; errors=0;;1;0; warnings=0;1;;0;$/) });
    expect(nagiosLine([{ code: 'boot-space-low', severity: 'warning' }], perf)).toMatchObject({ code: 1, line: expect.stringMatching(/^KBACKUP WARNING - boot-space-low /) });
    const crit = nagiosLine([{ code: 'trial-failed', severity: 'error' }, { code: 'boot-space-low', severity: 'warning' }], { ...perf, fallback: true });
    expect(crit.code).toBe(2);
    expect(crit.line).toMatch(/^KBACKUP CRITICAL - trial-failed, boot-space-low .*fallback=1;/);
    expect(crit.line).not.toContain('\n');
  });
});
