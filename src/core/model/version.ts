// The two version orderings GRUB's /etc/grub.d scripts use to choose the default kernel, reproduced
// byte for byte so that kbackup can predict the menu without running GRUB. Pure: no fs, no processes.
//
// - dpkg:   `dpkg --compare-versions` of dpkg 1.21 (Debian 12). Debian's grub-mkconfig_lib
//           `version_test_gt` calls it on the part of each file name after the first "-".
// - sort-v: `LC_ALL=C sort -V` of GNU coreutils 9.1 (gnulib filenvercmp, then sort's byte
//           comparison as the last resort). Upstream GRUB's `version_sort` uses it.
//
// Both compare raw bytes, so strings are compared as their UTF-8 encoding, which is what the tools
// see in argv and on stdin. Digit runs are compared digit by digit after dropping leading zeros, so
// a run of any length orders exactly (never through Number(), which rounds past 2^53).
//
// Bad syntax. dpkg sorts its complaints into warnings and errors:
// - a warning ("version number does not start with digit", "invalid character in …") is printed
//   and the versions are still compared; compareDebianVersions gives that same result. Kernel names
//   are usually valid: `6.1.0-18-amd64~~backup202611222040` splits into upstream `6.1.0-18` and
//   revision `amd64~~backup202611222040`, both legal.
// - an error (empty version, bad or too big epoch, empty upstream or revision, embedded spaces)
//   makes dpkg exit 2 without comparing. GRUB's `version_test_gt` then reads "not greater", which is
//   not an ordering. dpkgCompareVersions reproduces that exit status exactly; compareDebianVersions
//   stays a total order (so it can drive Array.prototype.sort) by comparing what dpkg had parsed
//   before it gave up, as documented on parseDebianVersion. debianVersionProblem says which case a
//   string is in, with dpkg's own message.

export type Ordering = -1 | 0 | 1;

export interface DebianVersion {
  /** Within dpkg's 0..INT_MAX for every version dpkg accepts; see parseDebianVersion. */
  epoch: number;
  upstream: string;
  revision: string;
}

export type VersionProblemSeverity = 'warning' | 'error';

export interface DebianVersionProblem {
  /** `warning`: dpkg complains and still compares; `error`: dpkg refuses (exit 2). */
  severity: VersionProblemSeverity;
  /** dpkg's own words, as in "dpkg: warning: version 'X' has bad syntax: <message>". */
  message: string;
}

/** The relations kbackup needs from `dpkg --compare-versions` (GRUB uses gt and ge). */
export const DPKG_RELATIONS = ['lt', 'le', 'eq', 'ne', 'ge', 'gt'] as const;
export type DpkgRelation = (typeof DPKG_RELATIONS)[number];

/** Exit status of `dpkg --compare-versions`: 0 true, 1 false, 2 refused (bad syntax or option). */
export type DpkgExitStatus = 0 | 1 | 2;

const INT_MAX_DIGITS = '2147483647';

interface ParsedVersion {
  /** dpkg's "no version": the empty string and `<unknown>`, which sort below everything. */
  none: boolean;
  /** Decimal digits without leading zeros ('' is 0); only error inputs exceed INT_MAX. */
  epochDigits: string;
  upstream: string;
  revision: string;
  problem: DebianVersionProblem | undefined;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
const TILDE = 0x7e;
const DOT = 0x2e;

const encoder = new TextEncoder();
function bytesOf(s: string): Uint8Array {
  return encoder.encode(s);
}

function stripLeadingZeros(digits: string): string {
  let i = 0;
  while (i < digits.length && digits.charCodeAt(i) === 0x30) i++;
  return digits.slice(i);
}

/** Compares two runs of decimal digits of any length by value. */
export function compareDigitRuns(a: string, b: string): Ordering {
  const x = stripLeadingZeros(a);
  const y = stripLeadingZeros(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function sign(n: number): Ordering {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

const error = (message: string): DebianVersionProblem => ({ severity: 'error', message });
const warning = (message: string): DebianVersionProblem => ({ severity: 'warning', message });

/**
 * dpkg's parseversion() (lib/dpkg/parsehelp.c), keeping going past an error so that every string
 * has a place in the order. The first problem found is the one dpkg reports.
 */
function parseLikeDpkg(raw: string): ParsedVersion {
  // `dpkg --compare-versions` treats these two as "no version" before parsing anything.
  if (raw === '' || raw === '<unknown>') {
    return { none: true, epochDigits: '', upstream: '', revision: '', problem: undefined };
  }
  let problem: DebianVersionProblem | undefined;
  const fail = (p: DebianVersionProblem): void => {
    problem ??= p;
  };

  // dpkg trims blanks (space and tab only) and refuses blanks inside.
  const leadTrimmed = raw.replace(/^[ \t]+/, '');
  const trimmed = leadTrimmed.replace(/[ \t]+$/, '');
  if (trimmed === '') {
    return { none: true, epochDigits: '', upstream: '', revision: '', problem: error('version string is empty') };
  }
  if (/[ \t]/.test(trimmed)) fail(error('version string has embedded spaces'));

  let epochDigits = '';
  let version = trimmed;
  const colon = trimmed.indexOf(':');
  if (colon >= 0) {
    // The epoch is read with strtol(), which accepts leading white space and a sign.
    const epochText = trimmed.slice(0, colon);
    const number = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)/.exec(epochText);
    if (!number) {
      fail(error('epoch in version is empty'));
    } else if (number[0].length !== epochText.length) {
      fail(error('epoch in version is not number'));
    } else {
      const digits = stripLeadingZeros(number[2]!);
      if (number[1] === '-' && digits !== '') {
        fail(error('epoch in version is negative'));
      } else {
        if (compareDigitRuns(digits, INT_MAX_DIGITS) > 0) fail(error('epoch in version is too big'));
        // dpkg tests colon[1] on the string before its trailing blanks are cut, so "1:\t" gets
        // "version number is empty" below, not this message.
        if (colon + 1 === leadTrimmed.length) fail(error('nothing after colon in version number'));
        epochDigits = digits;
        version = trimmed.slice(colon + 1);
      }
    }
  }

  // The revision starts after the LAST hyphen, so the upstream part may itself hold hyphens.
  const hyphen = version.lastIndexOf('-');
  let upstream = version;
  let revision = '';
  if (hyphen >= 0) {
    upstream = version.slice(0, hyphen);
    revision = version.slice(hyphen + 1);
    if (revision === '') fail(error('revision number is empty'));
  }
  if (upstream === '') fail(error('version number is empty'));

  if (upstream !== '' && !isDigit(upstream.charCodeAt(0))) {
    fail(warning('version number does not start with digit'));
  } else if (/[^0-9A-Za-z.+~:-]/.test(upstream.slice(1))) {
    fail(warning('invalid character in version number'));
  } else if (/[^0-9A-Za-z.+~]/.test(revision)) {
    fail(warning('invalid character in revision number'));
  }
  return { none: false, epochDigits, upstream, revision, problem };
}

/**
 * Splits a version as dpkg does: epoch before the first colon (absent = 0), revision after the
 * last hyphen. For strings dpkg refuses, the parts are what dpkg had read so far: an unreadable
 * epoch is 0 and stays part of the upstream text, an empty revision is '', a blank string is all
 * empty; an epoch beyond Number's precision (dpkg refuses anything above 2^31-1) is rounded here.
 */
export function parseDebianVersion(version: string): DebianVersion {
  const p = parseLikeDpkg(version);
  return { epoch: Number(p.epochDigits || '0'), upstream: p.upstream, revision: p.revision };
}

/** What dpkg would say about this version's syntax, or undefined if it is clean. */
export function debianVersionProblem(version: string): DebianVersionProblem | undefined {
  return parseLikeDpkg(version).problem;
}

/** dpkg's character weight: digits 0 (only met at a digit-run boundary), letters first, `~` lowest. */
function dpkgOrder(c: number | undefined): number {
  if (c === undefined) return 0; // dpkg reads the terminating NUL, which weighs 0
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === TILDE) return -1;
  // dpkg's `char` is signed on amd64: bytes >= 0x80 come out as c - 256 + 256 = c, between the
  // letters and ASCII punctuation (c + 256).
  if (c >= 0x80) return c;
  return c + 256;
}

/** dpkg's verrevcmp() on byte strings. */
function dpkgVerrevcmp(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const ac = dpkgOrder(a[i]);
      const bc = dpkgOrder(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    const d = compareDigitsAt(a, i, b, j);
    if (d.result !== 0) return d.result;
    i = d.i;
    j = d.j;
  }
  return 0;
}

/**
 * The digit-run step shared by dpkg and gnulib: skip leading zeros, then the longer run wins,
 * else the first differing digit. Returns the positions after both runs.
 */
function compareDigitsAt(
  a: Uint8Array,
  i: number,
  b: Uint8Array,
  j: number,
  aEnd = a.length,
  bEnd = b.length,
): { result: number; i: number; j: number } {
  while (i < aEnd && a[i] === 0x30) i++;
  while (j < bEnd && b[j] === 0x30) j++;
  let firstDiff = 0;
  while (i < aEnd && j < bEnd && isDigit(a[i]!) && isDigit(b[j]!)) {
    if (firstDiff === 0) firstDiff = a[i]! - b[j]!;
    i++;
    j++;
  }
  if (i < aEnd && isDigit(a[i]!)) return { result: 1, i, j };
  if (j < bEnd && isDigit(b[j]!)) return { result: -1, i, j };
  return { result: firstDiff, i, j };
}

function compareParsed(a: ParsedVersion, b: ParsedVersion): Ordering {
  if (a.none || b.none) return a.none === b.none ? 0 : a.none ? -1 : 1;
  const epoch = compareDigitRuns(a.epochDigits, b.epochDigits);
  if (epoch !== 0) return epoch;
  const upstream = dpkgVerrevcmp(bytesOf(a.upstream), bytesOf(b.upstream));
  if (upstream !== 0) return sign(upstream);
  return sign(dpkgVerrevcmp(bytesOf(a.revision), bytesOf(b.revision)));
}

/**
 * `dpkg --compare-versions a lt b` → -1, `eq` → 0, `gt` → 1, for every pair dpkg compares
 * (valid versions and those it only warns about). A total order on all strings: see the file
 * comment for inputs dpkg refuses.
 */
export function compareDebianVersions(a: string, b: string): Ordering {
  return compareParsed(parseLikeDpkg(a), parseLikeDpkg(b));
}

export function debianVersionGreater(a: string, b: string): boolean {
  return compareDebianVersions(a, b) > 0;
}

/** Ascending dpkg order; returns a new array. */
export function sortDebianVersions(versions: readonly string[]): string[] {
  return [...versions].sort(compareDebianVersions);
}

// dpkg's enquiry.c table: the status for a<b, a=b, a>b, and for "no version" on the left, on both
// sides, on the right.
const RELATION_STATUS: Record<DpkgRelation, readonly [DpkgExitStatus, DpkgExitStatus, DpkgExitStatus, DpkgExitStatus, DpkgExitStatus, DpkgExitStatus]> = {
  le: [0, 0, 1, 0, 0, 1],
  lt: [0, 1, 1, 0, 1, 1],
  eq: [1, 0, 1, 1, 0, 1],
  ne: [0, 1, 0, 0, 1, 0],
  ge: [1, 0, 0, 1, 0, 0],
  gt: [1, 1, 0, 1, 1, 0],
};

/**
 * The exit status of `dpkg --compare-versions A RELATION B` exactly as a shell script such as
 * grub-mkconfig_lib runs it (no `--`): 2 when dpkg refuses either version, and also when A starts
 * with "-", because dpkg then parses A as an unknown option.
 */
export function dpkgCompareVersions(a: string, relation: DpkgRelation, b: string): DpkgExitStatus {
  if (a.startsWith('-')) return 2;
  const pa = parseLikeDpkg(a);
  if (pa.problem?.severity === 'error') return 2;
  const pb = parseLikeDpkg(b);
  if (pb.problem?.severity === 'error') return 2;
  const row = RELATION_STATUS[relation];
  if (pa.none) return pb.none ? row[4] : row[3];
  if (pb.none) return row[5];
  const order = compareParsed(pa, pb);
  return order < 0 ? row[0] : order === 0 ? row[1] : row[2];
}

// ---------------------------------------------------------------------------------------------
// LC_ALL=C sort -V (coreutils 9.1)

/** gnulib's weight: end of string just above `~`, digits 0, letters, then other bytes. */
function gnulibOrder(s: Uint8Array, pos: number, len: number): number {
  if (pos === len) return -1;
  const c = s[pos]!;
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === TILDE) return -2;
  return c + 256;
}

function gnulibVerrevcmp(a: Uint8Array, aLen: number, b: Uint8Array, bLen: number): number {
  let i = 0;
  let j = 0;
  while (i < aLen || j < bLen) {
    while ((i < aLen && !isDigit(a[i]!)) || (j < bLen && !isDigit(b[j]!))) {
      const ac = gnulibOrder(a, i, aLen);
      const bc = gnulibOrder(b, j, bLen);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    const d = compareDigitsAt(a, i, b, j, aLen, bLen);
    if (d.result !== 0) return d.result;
    i = d.i;
    j = d.j;
  }
  return 0;
}

/**
 * Length of `s` without its file suffix: the longest match of `(\.[A-Za-z~][A-Za-z0-9~]*)*$`
 * (gnulib file_prefixlen as shipped in coreutils 9.1). In 9.1 the suffix may be the whole string,
 * so ".A" has an empty prefix and sorts before ".0"; coreutils 9.2 changed that back.
 */
function filePrefixLength(s: Uint8Array): number {
  const n = s.length;
  for (let i = 0; ; i++) {
    const prefixLength = i;
    while (i + 1 < n && s[i] === DOT && (isAlpha(s[i + 1]!) || s[i + 1] === TILDE)) {
      for (i += 2; i < n && (isAlnum(s[i]!) || s[i] === TILDE); i++) continue;
    }
    if (i >= n) return prefixLength;
  }
}

/** gnulib filenvercmp(): the version comparison alone, which may call different strings equal. */
function filenvercmp(a: Uint8Array, b: Uint8Array): number {
  if (a.length === 0) return b.length === 0 ? 0 : -1;
  if (b.length === 0) return 1;
  // "." first, then "..", then other hidden names, then the rest.
  if (a[0] === DOT) {
    if (b[0] !== DOT) return -1;
    const aDot = a.length === 1;
    const bDot = b.length === 1;
    if (aDot) return bDot ? 0 : -1;
    if (bDot) return 1;
    const aDotDot = a[1] === DOT && a.length === 2;
    const bDotDot = b[1] === DOT && b.length === 2;
    if (aDotDot) return bDotDot ? 0 : -1;
    if (bDotDot) return 1;
  } else if (b[0] === DOT) {
    return 1;
  }
  const aPrefix = filePrefixLength(a);
  const bPrefix = filePrefixLength(b);
  const result = gnulibVerrevcmp(a, aPrefix, b, bPrefix);
  if (result !== 0 || (aPrefix === a.length && bPrefix === b.length)) return result;
  return gnulibVerrevcmp(a, a.length, b, b.length);
}

/** sort's last resort when the keys tie: memcmp, then the shorter line first. */
function compareBytes(a: Uint8Array, b: Uint8Array): Ordering {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    if (a[k] !== b[k]) return a[k]! < b[k]! ? -1 : 1;
  }
  return sign(a.length - b.length);
}

/** The order in which `LC_ALL=C sort -V` prints two lines: 0 only for identical strings. */
export function compareSortV(a: string, b: string): Ordering {
  const x = bytesOf(a);
  const y = bytesOf(b);
  const byVersion = sign(filenvercmp(x, y));
  return byVersion !== 0 ? byVersion : compareBytes(x, y);
}

/** The version part of `compareSortV` alone (gnulib filevercmp, as `ls -v` uses it). */
export function compareFileVersions(a: string, b: string): Ordering {
  return sign(filenvercmp(bytesOf(a), bytesOf(b)));
}

/** What `LC_ALL=C sort -V` prints for these lines; returns a new array. */
export function sortLikeSortV(lines: readonly string[]): string[] {
  return [...lines].sort(compareSortV);
}
