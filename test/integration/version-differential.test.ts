// Differential test: src/core/version.ts against the real `dpkg --compare-versions` and
// `LC_ALL=C sort -V` on thousands of generated pairs, biased toward the cases that break naive
// implementations. A failure prints the seed; rerun it with KBACKUP_VERSION_SEED=<seed>.
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  compareDebianVersions,
  compareSortV,
  debianVersionProblem,
  DPKG_RELATIONS,
  dpkgCompareVersions,
  sortLikeSortV,
  type DpkgRelation,
  type Ordering,
} from '../../src/core/model/version';

const SEED = process.env.KBACKUP_VERSION_SEED
  ? Number(process.env.KBACKUP_VERSION_SEED) >>> 0
  : (Math.random() * 2 ** 32) >>> 0;
const VALID_PAIRS = 10_000;
const BAD_SYNTAX_PAIRS = 2_000;
const SORT_PAIRS = 20_000;
const WORKERS = 2;

// mulberry32: tiny, seedable, good enough to spread test cases.
function prng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = t;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly random: () => number) {}
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  chance(p: number): boolean {
    return this.random() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  charsFrom(alphabet: string, min: number, max: number): string {
    let s = '';
    const n = min + this.int(max - min + 1);
    for (let k = 0; k < n; k++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  /** Mostly short numbers; some with leading zeros; some far past 2^53. */
  digits(): string {
    const r = this.random();
    if (r < 0.6) return String(this.int(r < 0.3 ? 10 : 1000));
    if (r < 0.75) return '0'.repeat(1 + this.int(3)) + String(this.int(100));
    if (r < 0.9) return this.charsFrom('0123456789', 15, 40);
    return '9007199254740' + this.charsFrom('0123456789', 3, 6);
  }
  word(): string {
    return this.pick(['a', 'b', 'z', 'A', 'Z', 'rc', 'pre', 'dfsg', 'deb', 'bpo', 'amd64', 'cloud', 'old', 'backup', 'git', 'x']);
  }
  /** A run of version text from dpkg's legal characters; `extra` adds '-' and/or ':'. */
  versionText(extra: string): string {
    let s = '';
    const parts = 1 + this.int(6);
    for (let k = 0; k < parts; k++) {
      const r = this.random();
      if (r < 0.4) s += this.digits();
      else if (r < 0.6) s += this.word();
      else if (r < 0.9) s += this.pick(['.', '.', '+', '~', '~~', ...extra.split('')].filter((c) => c !== ''));
      else s += this.charsFrom('0123456789abzAZ.+~' + extra, 1, 3);
    }
    return s;
  }
  epoch(): string {
    return this.pick(['', '', '', '', '0:', '1:', '2:', '00:', '10:', '2147483647:', `${this.int(5)}:`]);
  }
  kernelVersion(): string {
    const abi = this.pick(['18', '18', '19', '9', '10', '017']);
    const flavour = this.pick(['amd64', 'amd64', 'cloud-amd64', 'rt-amd64', '686-pae', 'arm64']);
    let v = `${this.pick(['6', '5', '6', '10'])}.${this.pick(['1', '10', '0'])}.0-${abi}-${flavour}`;
    if (this.chance(0.6)) {
      const stamp = `2026${this.pick(['01', '11', '12'])}${this.pick(['01', '22', '30'])}${this.pick(['0000', '2040', '2359', '2041'])}`;
      v += `~~backup${stamp}`;
      if (this.chance(0.3)) v += `.${this.pick(['2', '3', '10', '11'])}`;
    }
    if (this.chance(0.15)) v += '.old';
    return v;
  }
  validDebianVersion(): string {
    if (this.chance(0.3)) return this.epoch() + this.kernelVersion();
    const epoch = this.epoch();
    const withRevision = this.chance(0.6);
    const extra = (withRevision ? '-' : '') + (epoch ? ':' : '');
    let v = `${epoch}${this.digits()}${this.versionText(extra)}`;
    if (withRevision) v += `-${this.digits()}${this.versionText('')}`;
    return v;
  }
  /** A small edit of v: the pairs that differ in one place are the ones worth testing. */
  mutate(v: string): string {
    const r = this.int(9);
    const at = this.int(v.length + 1);
    switch (r) {
      case 0:
        return v.slice(0, at) + '~' + v.slice(at);
      case 1:
        return v + this.pick(['~', '+', '.0', '0', 'a', '~~', '.1', '~rc1']);
      case 2:
        return v.replace(/\d/g, (d) => (this.chance(0.2) ? String((Number(d) + 1) % 10) : d));
      case 3:
        return v.replace(/\d+/, (run) => '0' + run);
      case 4:
        return v.includes(':') ? v.replace(/^\d+:/, this.pick(['', '0:', '1:'])) : this.pick(['0:', '1:']) + v;
      case 5:
        return incrementLastDigitRun(v);
      case 6:
        return v.replace(/[a-z]/, (c) => c.toUpperCase());
      case 7:
        return v.slice(0, at) + this.pick(['.', '+', '0', 'a', '~']) + v.slice(at);
      default:
        return v.slice(0, Math.max(1, at));
    }
  }
}

/** Adds 1 to the last digit run as a decimal string, so 2^53-sized runs differ by exactly 1. */
function incrementLastDigitRun(v: string): string {
  const m = /(\d+)(?!.*\d)/.exec(v);
  if (!m) return v + '1';
  const digits = m[1]!.split('');
  let k = digits.length - 1;
  while (k >= 0 && digits[k] === '9') digits[k--] = '0';
  if (k < 0) digits.unshift('1');
  else digits[k] = String(Number(digits[k]) + 1);
  return v.slice(0, m.index) + digits.join('') + v.slice(m.index + m[1]!.length);
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function runScript(file: string, args: string[], input: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

function chunks<T>(items: T[], n: number): T[][] {
  const size = Math.ceil(items.length / n);
  return Array.from({ length: n }, (_, k) => items.slice(k * size, (k + 1) * size));
}

function toolVersion(file: string): string {
  const r = spawnSync(file, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `"${file}" is missing or broken (${r.error?.message ?? `exit ${r.status}`}): this test proves ` +
        `src/core/version.ts against the real tool, so it must run on Debian 12 with ${file} installed`,
    );
  }
  return r.stdout.split('\n')[0]!;
}

let tools = '';
/** Called first in every test, so a missing tool fails each of them instead of skipping them. */
function requireTools(): void {
  tools ||= `${toolVersion('dpkg')}; ${toolVersion('sort')}`;
  expect(tools, 'sort must be GNU coreutils sort').toMatch(/GNU coreutils/);
}
const failureContext = (): string => `seed=${SEED} (rerun with KBACKUP_VERSION_SEED=${SEED}); ${tools}`;
const orderName = (o: Ordering): 'lt' | 'eq' | 'gt' => (o < 0 ? 'lt' : o === 0 ? 'eq' : 'gt');

/** dpkg's own answer for one pair, asked relation by relation: only used to explain a failure. */
function dpkgVerdict(a: string, b: string): string {
  for (const rel of ['lt', 'eq', 'gt'] as const) {
    const r = spawnSync('dpkg', ['--compare-versions', a, rel, b], { encoding: 'utf8' });
    if (r.status === 0) return rel;
    if (r.status !== 1) return `exit ${r.status}: ${r.stderr.trim()}`;
  }
  return 'none of lt/eq/gt';
}

describe(`version orderings against the real tools (seed ${SEED})`, () => {
  it('compareDebianVersions agrees with dpkg --compare-versions on 10,000 valid pairs', async () => {
    requireTools();
    const g = new Gen(prng(SEED));
    const pairs: [string, string][] = [];
    while (pairs.length < VALID_PAIRS) {
      const a = g.validDebianVersion();
      const b = g.chance(0.5) ? g.mutate(a) : g.chance(0.2) ? a : g.validDebianVersion();
      // Only versions dpkg accepts silently go here; the bad-syntax test covers the rest.
      if (debianVersionProblem(a) || debianVersionProblem(b)) continue;
      pairs.push(g.chance(0.5) ? [a, b] : [b, a]);
    }
    // One `sh` per core, each running dpkg for its share. dpkg answers one relation per run, so
    // each pair asks the relation we predict: exit 0 confirms it, and since lt/eq/gt exclude each
    // other, a wrong prediction cannot pass.
    const predicted = pairs.map(([a, b]) => compareDebianVersions(a, b));
    const results = await Promise.all(
      chunks(
        pairs.map((pair, k) => ({ pair, order: predicted[k]! })),
        WORKERS,
      ).map((part) =>
        runScript(
          'sh',
          ['-s'],
          part
            .map(({ pair: [a, b], order }) => `dpkg --compare-versions ${shQuote(a)} ${orderName(order)} ${shQuote(b)}; echo $?\n`)
            .join(''),
        ),
      ),
    );
    for (const r of results) {
      expect(r.code, failureContext()).toBe(0);
      // dpkg warns on stderr about any syntax it dislikes: none of these may draw a warning.
      expect(r.stderr, `dpkg complained about a version kbackup thinks is clean; ${failureContext()}`).toBe('');
    }
    const codes = results.flatMap((r) => r.stdout.trim().split('\n'));
    expect(codes.length, failureContext()).toBe(pairs.length);

    const mismatches: string[] = [];
    const seen = { lt: 0, eq: 0, gt: 0 };
    pairs.forEach(([a, b], k) => {
      const order = orderName(predicted[k]!);
      seen[order]++;
      if (codes[k] !== '0') {
        mismatches.push(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: ours ${order}, dpkg ${dpkgVerdict(a, b)}`);
      }
    });
    expect(mismatches.slice(0, 20), `${mismatches.length} mismatches; ${failureContext()}`).toEqual([]);
    // The generator must actually exercise all three outcomes.
    expect(seen.lt, failureContext()).toBeGreaterThan(VALID_PAIRS / 10);
    expect(seen.gt, failureContext()).toBeGreaterThan(VALID_PAIRS / 10);
    expect(seen.eq, failureContext()).toBeGreaterThan(VALID_PAIRS / 100);
  });

  it('dpkgCompareVersions reproduces dpkg exit status and messages on bad syntax', async () => {
    requireTools();
    const g = new Gen(prng(SEED ^ 0x5bd1e995));
    const oddities = [
      '', ' ', '  ', '\t', '<unknown>', '-', '-1', '-1-2', '1-', '1.0-', ':', ':1', '1:', 'a:1', '1a:2',
      '+1:2', '-0:2', '-1:2', '00:1', '2147483647:1', '2147483648:1', '99999999999999999999:1',
      ' 1.0', '1.0 ', '1 0', '1\t0', 'a1', '~1', '1_2', '1.0-a@', '1.0-a-b', '1::2', '1:2:3', 'é1', '1é',
      '6.1.0-18-amd64~~backup202611222040', '1.0-é', '1;2', "1'2", '1"2', '1$2', '1`2',
    ];
    const junk = () => {
      const r = g.random();
      if (r < 0.35) return g.pick(oddities);
      if (r < 0.55) return g.validDebianVersion();
      if (r < 0.75) return g.mutate(g.pick(oddities) + g.validDebianVersion());
      return g.charsFrom('0123456789ab~+.-:_@ \té', 0, 8);
    };
    const cases: [string, DpkgRelation, string][] = [];
    for (let k = 0; k < BAD_SYNTAX_PAIRS; k++) cases.push([junk(), g.pick(DPKG_RELATIONS), junk()]);

    const results = await Promise.all(
      chunks(cases, WORKERS).map((part) =>
        runScript(
          'sh',
          ['-s'],
          part
            .map(
              ([a, rel, b]) =>
                `e=$(dpkg --compare-versions ${shQuote(a)} ${rel} ${shQuote(b)} 2>&1 >/dev/null); printf '%s\\t%s\\036' "$?" "$e"\n`,
            )
            .join(''),
        ),
      ),
    );
    const records = results.flatMap((r) => r.stdout.split('\x1e').slice(0, -1));
    expect(records.length, failureContext()).toBe(cases.length);

    const expectedStderr = (v: string): { lines: string[]; fatal: boolean } => {
      const problem = debianVersionProblem(v);
      if (!problem) return { lines: [], fatal: false };
      return { lines: [`dpkg: ${problem.severity}: version '${v}' has bad syntax: ${problem.message}`], fatal: problem.severity === 'error' };
    };
    const mismatches: string[] = [];
    const statuses = new Set<string>();
    cases.forEach(([a, rel, b], k) => {
      const tab = records[k]!.indexOf('\t');
      const status = Number(records[k]!.slice(0, tab));
      const stderr = records[k]!.slice(tab + 1);
      statuses.add(String(status));
      const ours = dpkgCompareVersions(a, rel, b);
      const what = `dpkg --compare-versions ${JSON.stringify(a)} ${rel} ${JSON.stringify(b)}`;
      if (ours !== status) mismatches.push(`${what}: dpkg exit ${status}, ours ${ours} (${stderr})`);
      if (a.startsWith('-')) return; // dpkg prints its usage text for an unknown option
      const ea = expectedStderr(a);
      const eb = ea.fatal ? { lines: [] } : expectedStderr(b);
      const want = [...ea.lines, ...eb.lines].join('\n');
      if (stderr !== want) mismatches.push(`${what}: dpkg said ${JSON.stringify(stderr)}, we expected ${JSON.stringify(want)}`);
    });
    expect(mismatches.slice(0, 20), `${mismatches.length} mismatches; ${failureContext()}`).toEqual([]);
    expect([...statuses].sort(), failureContext()).toEqual(['0', '1', '2']);
  });

  function sortVCandidate(g: Gen): string {
    const r = g.random();
    if (r < 0.3) {
      const v = g.kernelVersion();
      return g.pick(['vmlinuz-', 'kernel-', 'initrd.img-', 'config-', 'System.map-', '']) + v + g.pick(['', '', '', '.dpkg-bak', '.tar.gz', '~', '.bak']);
    }
    if (r < 0.45) return g.validDebianVersion();
    if (r < 0.55) return g.pick(['', '.', '..', '...', '.a', '.1', '..a', '.~', '~', 'a', 'a.', 'a..', '.a.b', 'a.b.c', 'a.1.b', '1.a~b.c']);
    if (r < 0.8) return g.charsFrom('0123456789aZ.~-_+é', 0, 10);
    return g.charsFrom('.~aZ09', 0, 6) + g.digits() + g.charsFrom('.~aZ-', 0, 4);
  }

  it('compareSortV agrees with LC_ALL=C sort -V on 20,000 pairs, each sorted on its own', async () => {
    requireTools();
    const g = new Gen(prng(SEED ^ 0x27d4eb2f));
    const pairs: [string, string][] = [];
    for (let k = 0; k < SORT_PAIRS; k++) {
      const a = sortVCandidate(g);
      const r = g.random();
      pairs.push([a, r < 0.4 ? g.mutate(a) : r < 0.45 ? a : sortVCandidate(g)]);
    }
    // Each pair is its own group "k<TAB>line": sort orders the groups numerically, then the lines
    // of a group by -V and, on a tie, by bytes of the whole line, whose "k<TAB>" prefix is shared.
    const input = pairs.map(([a, b], k) => `${k}\t${a}\n${k}\t${b}\n`).join('');
    const r = await runScript('sort', ['-t', '\t', '-k1,1n', '-k2V'], input, { ...process.env, LC_ALL: 'C' });
    expect(r.code, `${r.stderr}; ${failureContext()}`).toBe(0);
    const lines = r.stdout.split('\n').slice(0, -1);
    expect(lines.length, failureContext()).toBe(2 * pairs.length);

    const mismatches: string[] = [];
    pairs.forEach(([a, b], k) => {
      const first = lines[2 * k]!;
      const second = lines[2 * k + 1]!;
      const prefix = `${k}\t`;
      expect(first.startsWith(prefix) && second.startsWith(prefix), failureContext()).toBe(true);
      const sortedFirst = first.slice(prefix.length);
      const expected: Ordering = a === b ? 0 : sortedFirst === a ? -1 : 1;
      const actual = compareSortV(a, b);
      if (actual !== expected) {
        mismatches.push(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: sort -V ${orderName(expected)}, ours ${orderName(actual)}`);
      }
    });
    expect(mismatches.slice(0, 20), `${mismatches.length} mismatches; ${failureContext()}`).toEqual([]);
  });

  it('sortLikeSortV prints a whole list in the same order as LC_ALL=C sort -V', async () => {
    requireTools();
    const g = new Gen(prng(SEED ^ 0x165667b1));
    const list = Array.from({ length: 4_000 }, () => sortVCandidate(g));
    const r = await runScript('sort', ['-V'], list.map((l) => `${l}\n`).join(''), { ...process.env, LC_ALL: 'C' });
    expect(r.code, failureContext()).toBe(0);
    const theirs = r.stdout.split('\n').slice(0, -1);
    const ours = sortLikeSortV(list);
    const firstDiff = ours.findIndex((line, k) => line !== theirs[k]);
    expect(
      firstDiff === -1 ? null : { at: firstDiff, ours: ours.slice(firstDiff, firstDiff + 3), sort: theirs.slice(firstDiff, firstDiff + 3) },
      failureContext(),
    ).toBeNull();
    expect(theirs.length).toBe(list.length);
  });
});
