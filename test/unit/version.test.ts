// Version orderings, table-driven. Every expected value here was checked against dpkg 1.21.22 and
// coreutils 9.1 `LC_ALL=C sort -V` on Debian 12; test/integration/version-differential.test.ts
// keeps checking thousands more against the real tools.
import { describe, expect, it } from 'vitest';
import {
  compareDebianVersions,
  compareDigitRuns,
  compareFileVersions,
  compareSortV,
  debianVersionGreater,
  debianVersionProblem,
  dpkgCompareVersions,
  parseDebianVersion,
  sortDebianVersions,
  sortLikeSortV,
  type DpkgExitStatus,
  type DpkgRelation,
  type Ordering,
} from '../../src/core/model/version';

const V = '6.1.0-18-amd64';
const BACKUP = `${V}~~backup202611222040`;
const BACKUP_2 = `${V}~~backup202611222040.2`;
const thirty = '123456789012345678901234567890';

// [a, b, dpkg --compare-versions, LC_ALL=C sort -V]
const table: [string, string, Ordering, Ordering][] = [
  // equal spellings
  ['1.0', '1.0', 0, 0],
  ['0:1.0', '1.0', 0, -1],
  ['00:1.0', '0:1.0', 0, -1],
  ['1.01', '1.1', 0, -1], // dpkg: leading zeros do not count; sort -V: equal versions, then bytes
  ['1.001-1', '1.1-01', 0, -1],
  ['0000000000000000000000000000001', '1', 0, -1],
  // epochs beat everything after them
  ['1:1.0', '2.0', 1, -1],
  ['1:0.1', '0:9.9', 1, 1],
  ['2147483647:1', '1:2', 1, 1],
  // tilde: lower than everything, even the end of the string
  ['1.0~rc1', '1.0', -1, -1],
  ['1.0~', '1.0', -1, -1],
  ['1.0~~', '1.0~', -1, -1],
  ['1.0~~a', '1.0~~', 1, 1],
  ['1~', '1~~', 1, 1],
  // letters before non-letters; end of string before letters; + before .
  ['1.0', '1.0a', -1, -1],
  ['1.0a', '1.0.', -1, -1],
  ['1.0a', '1.0A', 1, 1],
  ['1.0+', '1.0.', -1, -1],
  ['1.0', '1.0+1', -1, -1],
  ['1.0', '1.0.0', -1, -1],
  // hyphens: the revision starts after the LAST one
  ['1.0-1', '1.0-1.1', -1, -1],
  ['1.2-3-4', '1.2-3-5', -1, -1],
  ['1-2-3', '1-2', 1, 1],
  ['1.0-2', '1.0-10', -1, -1],
  // digit runs compare by value at any length (Number() would round these)
  [thirty, thirty.replace(/0$/, '1'), -1, -1],
  [`1.${thirty}`, `1.0${thirty}`, 0, 1],
  ['9007199254740993', '9007199254740992', 1, 1],
  ['1.9007199254740993-1', '1.9007199254740992-2', 1, 1],
  // kernel-shaped: a backup sorts below its live kernel, a second set of the minute above the first
  [V, BACKUP, 1, 1],
  [BACKUP, BACKUP_2, -1, -1],
  [BACKUP_2, V, -1, -1],
  [`${V}~~backup202611221200`, BACKUP, -1, -1],
  [`${V}~~backup202612010000`, BACKUP_2, 1, 1],
  [`${V}~~backup202511222040`, `${V}~~backup202611222040`, -1, -1],
  [`${V}.old`, V, 1, 1],
  [`${V}.old`, BACKUP, 1, 1],
  ['6.1.0-18-cloud-amd64', V, 1, 1],
  ['6.1.0-18-cloud-amd64~~backup202611222040', '6.1.0-18-cloud-amd64', -1, -1],
  ['6.1.0-18-cloud-amd64~~backup202611222040', BACKUP, 1, 1],
  ['6.1.0-19-amd64', BACKUP, 1, 1],
  [BACKUP, '6.1.0-17-amd64', 1, 1],
  ['6.1.0-10-amd64', '6.1.0-9-amd64', 1, 1],
  ['6.10.0-1-amd64', '6.9.0-1-amd64', 1, 1],
];

describe('compareDebianVersions (dpkg --compare-versions)', () => {
  it.each(table)('%s vs %s → %i', (a, b, dpkg) => {
    expect(compareDebianVersions(a, b)).toBe(dpkg);
    expect(compareDebianVersions(b, a)).toBe(-dpkg || 0);
    expect(debianVersionGreater(a, b)).toBe(dpkg > 0);
  });

  it('sorts backups of one kernel below it, newest backup first when read top down', () => {
    const versions = [
      `${V}~~backup202611221200`,
      V,
      BACKUP_2,
      `${V}~~backup202612010000`,
      BACKUP,
      '6.1.0-17-amd64',
    ];
    expect(sortDebianVersions(versions).reverse()).toEqual([
      V,
      `${V}~~backup202612010000`,
      BACKUP_2,
      BACKUP,
      `${V}~~backup202611221200`,
      '6.1.0-17-amd64',
    ]);
  });

  it('compares versions dpkg only warns about, as dpkg does', () => {
    expect(debianVersionProblem('a1')?.severity).toBe('warning');
    expect(compareDebianVersions('a1', '1')).toBe(1);
    expect(compareDebianVersions('1_2', '1.2')).toBe(1);
    expect(compareDebianVersions('1.0-a@', '1.0-a')).toBe(1);
    // dpkg's signed char: UTF-8 bytes weigh between letters and ASCII punctuation
    expect(compareDebianVersions('1é', '1z')).toBe(1);
    expect(compareDebianVersions('1é', '1.')).toBe(-1);
  });

  it('puts "no version" ("" and <unknown>) below every version and refused strings in a total order', () => {
    expect(compareDebianVersions('', '~')).toBe(-1);
    expect(compareDebianVersions('<unknown>', '')).toBe(0);
    expect(compareDebianVersions('0', '')).toBe(1);
    // refused by dpkg (exit 2) but still ordered, from what dpkg had parsed
    expect(compareDebianVersions('1.0-', '1.0')).toBe(0);
    expect(compareDebianVersions('  ', '')).toBe(0);
    expect(compareDebianVersions('a:1', 'b:1')).toBe(-1);
    expect(compareDebianVersions('99999999999999999999:1', '2147483647:9')).toBe(1);
    const refused = ['1.0-', ':1', 'a:1', '-1', '1 2', '2147483648:1', '1:', ' ', '-0:1'];
    const sorted = sortDebianVersions([...refused, '1.0', '0:1', '']);
    for (let k = 1; k < sorted.length; k++) expect(compareDebianVersions(sorted[k - 1]!, sorted[k]!)).toBeLessThanOrEqual(0);
  });
});

describe('dpkgCompareVersions (exit status, as grub-mkconfig_lib calls dpkg)', () => {
  const cases: [string, DpkgRelation, string, DpkgExitStatus][] = [
    [BACKUP, 'lt', V, 0],
    [V, 'gt', BACKUP, 0],
    [V, 'ge', V, 0],
    [V, 'gt', V, 1],
    ['1.0', 'ne', '1.00', 1],
    ['', 'lt', '1', 0],
    ['1', 'gt', '', 0],
    ['<unknown>', 'eq', '', 0],
    ['', 'ge', '', 0],
    ['a1', 'gt', '1', 0], // a warning, then a comparison
    [':1', 'lt', '1', 2], // refused: exit 2, which version_test_gt reads as "not greater"
    ['1.0-', 'eq', '1.0', 2],
    ['1', 'lt', '1.0-', 2],
    ['  ', 'eq', '', 2],
    ['1 2', 'eq', '1', 2],
    ['2147483648:1', 'gt', '1', 2],
    ['2147483647:1', 'gt', '1', 0],
    ['+1:2', 'eq', '1:2', 0], // strtol reads the sign
    ['-1-2', 'lt', '1', 2], // dpkg takes a first argument starting with "-" for an option
    ['1', 'lt', '-1-2', 0], // ...but not a later one, and "-1-2" only draws a warning
  ];
  it.each(cases)('dpkg --compare-versions %j %s %j → %i', (a, rel, b, status) => {
    expect(dpkgCompareVersions(a, rel, b)).toBe(status);
  });
});

describe('parseDebianVersion and debianVersionProblem', () => {
  it.each([
    ['2.0', { epoch: 0, upstream: '2.0', revision: '' }],
    ['0:2.0', { epoch: 0, upstream: '2.0', revision: '' }],
    ['1:2.3-4-5', { epoch: 1, upstream: '2.3-4', revision: '5' }],
    ['1:2:3', { epoch: 1, upstream: '2:3', revision: '' }],
    [BACKUP, { epoch: 0, upstream: '6.1.0-18', revision: 'amd64~~backup202611222040' }],
    [' 3:1.0-1 ', { epoch: 3, upstream: '1.0', revision: '1' }],
  ])('%j', (v, parts) => {
    expect(parseDebianVersion(v)).toEqual(parts);
  });

  it.each([
    [V, undefined],
    [BACKUP, undefined],
    [BACKUP_2, undefined],
    [`${V}.old`, undefined],
    ['1:2:3-4', undefined],
    ['a1', { severity: 'warning', message: 'version number does not start with digit' }],
    ['1_2', { severity: 'warning', message: 'invalid character in version number' }],
    ['1.0-a@', { severity: 'warning', message: 'invalid character in revision number' }],
    ['1:1.0-a:b', { severity: 'warning', message: 'invalid character in revision number' }],
    ['  ', { severity: 'error', message: 'version string is empty' }],
    ['1 2', { severity: 'error', message: 'version string has embedded spaces' }],
    [':1', { severity: 'error', message: 'epoch in version is empty' }],
    ['1a:2', { severity: 'error', message: 'epoch in version is not number' }],
    ['-1:2', { severity: 'error', message: 'epoch in version is negative' }],
    ['2147483648:1', { severity: 'error', message: 'epoch in version is too big' }],
    ['1:', { severity: 'error', message: 'nothing after colon in version number' }],
    // Found by the differential test: dpkg looks past the colon before cutting trailing blanks.
    ['1:\t', { severity: 'error', message: 'version number is empty' }],
    ['1.0-', { severity: 'error', message: 'revision number is empty' }],
    ['-1', { severity: 'error', message: 'version number is empty' }],
  ])('%j', (v, problem) => {
    expect(debianVersionProblem(v)).toEqual(problem);
  });
});

describe('compareSortV (LC_ALL=C sort -V)', () => {
  it.each(table)('%s vs %s → %i / %i', (a, b, _dpkg, sortV) => {
    expect(compareSortV(a, b)).toBe(sortV);
    expect(compareSortV(b, a)).toBe(-sortV || 0);
  });

  it.each<[string, string, Ordering]>([
    // file suffixes (\.[A-Za-z~][A-Za-z0-9~]*)*$ are compared only when the rest ties
    ['hello-1.0.tar.gz', 'hello-1.0a.tar.gz', -1],
    ['foo-1.2.tar.gz', 'foo-1.10.tar.gz', -1],
    ['a.tar.gz', 'a.zip', -1],
    [`kernel-${BACKUP}`, `kernel-${BACKUP}.2`, -1],
    [`initrd.img-${V}`, `initrd.img-${BACKUP}`, 1],
    // ".", "..", hidden files, then the rest
    ['.', '..', -1],
    ['..', '.a', -1],
    ['.z', 'a', -1],
    ['', '.', -1],
    // coreutils 9.1 lets a suffix be the whole name, so ".A" sorts before ".0" (9.2 reverted it)
    ['.A', '.0', -1],
    ['.a', '..a', -1],
    // the last resort is a byte comparison: sort never calls different lines equal
    ['a01', 'a1', -1],
    ['a1', 'a1', 0],
    [`${thirty}x`, `0${thirty}x`, 1],
  ])('%j vs %j → %i', (a, b, expected) => {
    expect(compareSortV(a, b)).toBe(expected);
    expect(compareSortV(b, a)).toBe(-expected || 0);
  });

  it('separates the version order from the byte tie-break', () => {
    expect(compareFileVersions('a01', 'a1')).toBe(0);
    expect(compareFileVersions('1.0.tar.gz', '1.0.tar.gz')).toBe(0);
  });

  it('lists backups below the live kernel, newest first, in a reverse sort (GRUB: version_sort -r)', () => {
    const names = [
      `kernel-${V}~~backup202611221200`,
      `kernel-${V}`,
      `kernel-${BACKUP_2}`,
      `kernel-${V}~~backup202612010000`,
      `kernel-${BACKUP}`,
    ];
    expect(sortLikeSortV(names).reverse()).toEqual([
      `kernel-${V}`,
      `kernel-${V}~~backup202612010000`,
      `kernel-${BACKUP_2}`,
      `kernel-${BACKUP}`,
      `kernel-${V}~~backup202611221200`,
    ]);
  });
});

describe('compareDigitRuns', () => {
  it.each<[string, string, Ordering]>([
    ['0', '', 0],
    ['007', '7', 0],
    ['9007199254740993', '9007199254740992', 1],
    [thirty, `00${thirty}`, 0],
    [thirty, thirty.slice(1), 1],
    ['99', '100', -1],
  ])('%s vs %s → %i', (a, b, expected) => {
    expect(compareDigitRuns(a, b)).toBe(expected);
  });
});
