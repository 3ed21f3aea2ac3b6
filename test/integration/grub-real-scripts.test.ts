// Differential test of the GRUB model against the real scripts: Debian 12's grub-common
// (2.06-13, dpkg ordering) and Debian 13's (2.12, `sort -V` ordering), fetched with apt into
// .cache (never vendored) and run unmodified. For each generated /boot listing, the whole real
// /etc/grub.d/10_linux runs with that listing bind-mounted over /boot in a private mount namespace,
// and its `linux`/`initrd` lines must equal what grubMenuOrder predicts.
//
// Needs root (unshare --mount) and Debian's apt archive; without them it fails and says why.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGrubCfg, parseGrubenv, resolveDefaultEntry, type MenuNode } from '../../src/core/model/grub/grub-cfg';
import {
  STOCK_EARLY_INITRDS,
  detectFlavour,
  grubMenuOrder,
  type BootEntry,
  type GrubFlavour,
} from '../../src/core/model/grub/menu-order';

const REPO = path.resolve(__dirname, '../..');
const CACHE = path.join(REPO, '.cache/grub-debs');

interface Suite {
  suite: 'bookworm' | 'trixie';
  flavour: GrubFlavour;
  /** Expected grub-common upstream version prefix, so a wrong download is caught. */
  version: RegExp;
}
const SUITES: Suite[] = [
  { suite: 'bookworm', flavour: 'dpkg', version: /^2\.06-13/ },
  { suite: 'trixie', flavour: 'sort-v', version: /^2\.12-/ },
];

const execFileAsync = promisify(execFile);

// Asynchronous, so a long run does not starve vitest's worker RPC.
async function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const r = await execFileAsync(cmd, args, { cwd: opts.cwd, env: opts.env, encoding: 'utf8', maxBuffer: 64 << 20 });
    return r.stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message} ${e.stderr ?? ''}`);
  }
}

/**
 * grub-common and grub2-common of one Debian suite, extracted under .cache. apt runs with its own
 * sources list and state under .cache, so the machine's apt configuration is never touched.
 */
async function ensureSuite(s: Suite): Promise<string> {
  const dir = path.join(CACHE, s.suite);
  const extracted = path.join(dir, 'root');
  if (fs.existsSync(path.join(extracted, 'etc/grub.d/10_linux')) && fs.existsSync(path.join(extracted, 'usr/sbin/grub-mkconfig'))) {
    return extracted;
  }
  const apt = path.join(dir, 'apt');
  for (const sub of ['lists/partial', 'cache/archives/partial', 'etc/sources.list.d', 'etc/preferences.d']) {
    fs.mkdirSync(path.join(apt, sub), { recursive: true });
  }
  fs.writeFileSync(
    path.join(apt, 'etc/sources.list'),
    `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian ${s.suite} main\n`,
  );
  const options = [
    `Dir::Etc::SourceList=${apt}/etc/sources.list`,
    `Dir::Etc::SourceParts=${apt}/etc/sources.list.d`,
    `Dir::Etc::Preferences=${apt}/etc/preferences`,
    `Dir::Etc::PreferencesParts=${apt}/etc/preferences.d`,
    `Dir::State::Lists=${apt}/lists`,
    `Dir::State::status=/dev/null`,
    `Dir::Cache=${apt}/cache`,
    'APT::Architecture=amd64',
    'Acquire::Languages=none',
  ].flatMap((o) => ['-o', o]);
  try {
    await run('apt-get', [...options, 'update']);
    await run('apt-get', [...options, 'download', 'grub-common', 'grub2-common'], { cwd: dir });
  } catch (err) {
    throw new Error(
      `cannot fetch Debian ${s.suite}'s grub-common/grub2-common with apt-get into ${dir}; this test runs the real ` +
        `GRUB scripts and needs apt and access to deb.debian.org (${(err as Error).message})`,
    );
  }
  const debs = fs.readdirSync(dir).filter((f) => /^grub2?-common_.*\.deb$/.test(f));
  const common = debs.find((f) => f.startsWith('grub-common_'));
  if (!common || !s.version.test(decodeURIComponent(common.split('_')[1]!))) {
    throw new Error(`expected grub-common ${s.version} for ${s.suite}, found ${debs.join(', ')}`);
  }
  fs.rmSync(extracted, { recursive: true, force: true });
  for (const deb of debs) await run('dpkg-deb', ['-x', path.join(dir, deb), extracted]);
  return extracted;
}

// ---------------------------------------------------------------------------------------------
// Generated /boot listings

/** mulberry32: a small deterministic PRNG, so a failure names a seed that reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VERSIONS = [
  '6.1.0-18-amd64',
  '6.1.0-17-amd64',
  '6.1.0-9-amd64',
  '6.1.0-10-amd64',
  '6.1.0-18-rt-amd64',
  '6.1.0-18-cloud-amd64',
  '6.10.0-1-amd64',
  '6.12.9-amd64',
  '5.10.0-28-amd64',
  '6.1.0-trunk-amd64',
  '6.1.0-rc7-amd64',
  '6.1.0-18-preempt-amd64',
  '6.1.0-0.deb11.13-amd64',
  '6.1.76',
];
const STAMPS = ['202601010000', '202611222040', '202611222041', '202512312359', '202611222040.2', '202611222040.10'];

interface Case {
  name: string;
  files: string[];
  dirs?: string[];
}

function generatedCase(seed: number): Case {
  const rand = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const files = new Set<string>();
  const dirs: string[] = [];
  const versions = new Set<string>();
  const count = 1 + Math.floor(rand() * 5);
  while (versions.size < count) versions.add(pick(VERSIONS));
  for (const v of versions) {
    if (rand() < 0.9) files.add(`vmlinuz-${v}`);
    if (rand() < 0.8) files.add(`initrd.img-${v}`);
    if (rand() < 0.5) files.add(`config-${v}`);
    const backups = Math.floor(rand() * 4);
    for (let k = 0; k < backups; k++) {
      const stamp = pick(STAMPS);
      const legacy = rand() < 0.25;
      files.add(`${legacy ? 'vmlinuz' : 'kernel'}-${v}~~backup${stamp}`);
      if (rand() < 0.8) files.add(`initrd.img-${v}~~backup${stamp}`);
    }
    if (rand() < 0.15) files.add(`vmlinuz-${v}.old`);
    if (rand() < 0.1) files.add(`initrd.img-${v}.old`);
    if (rand() < 0.15) files.add(`vmlinuz-${v}.dpkg-tmp`);
    if (rand() < 0.1) files.add(`vmlinuz-${v}.dpkg-bak`);
    if (rand() < 0.05) files.add(`vmlinuz-${v}.sig`);
    if (rand() < 0.05) files.add(`vmlinuz-${v}.rpmnew`);
    if (rand() < 0.05) files.add(`initrd-${v}.img`);
    if (rand() < 0.05) files.add(`initramfs-${v}.img`);
    if (rand() < 0.05) dirs.push(`vmlinuz-${v}-dir`);
  }
  if (rand() < 0.2) files.add(pick(['intel-ucode.img', 'amd-ucode.img', 'microcode.cpio']));
  if (rand() < 0.1) files.add('.kbackup-tmp-vmlinuz-6.1.0-18-amd64');
  return { name: `seed ${seed}`, files: [...files], dirs };
}

const HAND_PICKED: Case[] = [
  { name: 'empty /boot', files: [] },
  { name: 'one live kernel', files: ['vmlinuz-6.1.0-18-amd64', 'initrd.img-6.1.0-18-amd64'] },
  {
    name: 'live above its backups, newest backup first, .N sequence',
    files: [
      'vmlinuz-6.1.0-18-amd64',
      'initrd.img-6.1.0-18-amd64',
      'kernel-6.1.0-18-amd64~~backup202611222040',
      'initrd.img-6.1.0-18-amd64~~backup202611222040',
      'kernel-6.1.0-18-amd64~~backup202611222040.2',
      'initrd.img-6.1.0-18-amd64~~backup202611222040.2',
      'kernel-6.1.0-18-amd64~~backup202601010000',
      'initrd.img-6.1.0-18-amd64~~backup202601010000',
    ],
  },
  {
    name: 'legacy vmlinuz backups beside kernel- backups and an older ABI',
    files: [
      'vmlinuz-6.1.0-18-amd64',
      'initrd.img-6.1.0-18-amd64',
      'vmlinuz-6.1.0-18-amd64~~backup202601010000',
      'initrd.img-6.1.0-18-amd64~~backup202601010000',
      'kernel-6.1.0-18-amd64~~backup202611222040',
      'initrd.img-6.1.0-18-amd64~~backup202611222040',
      'vmlinuz-6.1.0-17-amd64',
      'initrd.img-6.1.0-17-amd64',
    ],
  },
  {
    name: '.old image uses the live initrd; dpkg temp files are ignored',
    files: [
      'vmlinuz-6.1.0-18-amd64',
      'vmlinuz-6.1.0-18-amd64.old',
      'initrd.img-6.1.0-18-amd64',
      'vmlinuz-6.1.0-18-amd64.dpkg-tmp',
      'initrd.img-6.1.0-18-amd64.dpkg-bak',
    ],
  },
  {
    name: 'missing live image: the backup becomes the default',
    files: ['initrd.img-6.1.0-18-amd64', 'kernel-6.1.0-18-amd64~~backup202611222040', 'initrd.img-6.1.0-18-amd64~~backup202611222040'],
  },
  {
    name: 'odd names: no dash version, empty version, colon, leading dash',
    files: ['vmlinuz-', 'vmlinuz-linux', 'vmlinuz-1:2', 'vmlinuz--x', 'kernel-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64', 'initrd-6.1.0-18-amd64'],
  },
  {
    name: 'microcode early initrds',
    files: ['vmlinuz-6.1.0-18-amd64', 'initrd.img-6.1.0-18-amd64', 'intel-ucode.img', 'amd-ucode.img'],
  },
];

/** Run through the whole 10_linux: every `linux` and `initrd` line is compared. */
const FULL_CASES: Case[] = [...HAND_PICKED, ...Array.from({ length: 24 }, (_, k) => generatedCase(1000 + k))];
/** Run through 10_linux's list-and-sort code only: the order is compared. */
const ORDER_CASES: Case[] = [
  // Only here: on an EFI host the full 10_linux would boot IMAGE.efi.signed instead of IMAGE.
  {
    name: 'signed EFI images beside the kernels',
    files: ['vmlinuz-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64.efi.signed', 'vmlinuz-6.1.0-17-amd64.efi.signed', 'kernel-6.1.0-18-amd64~~backup202611222040'],
  },
  ...Array.from({ length: 160 }, (_, k) => generatedCase(5000 + k)),
];

// ---------------------------------------------------------------------------------------------
// Running the real 10_linux

let work: string;

const STUB_PROBE = `#!/bin/sh
case "$*" in *fs_uuid*) echo 0000-test;; *--target=fs\\ *|*--target=fs|*"-t fs"*) echo ext2;; esac
exit 0
`;
const STUB_RELPATH = `#!/bin/sh
printf '%s\\n' "$1"
`;

function listing(dir: string): BootEntry[] {
  return fs.readdirSync(dir).map((name) => ({ name, isFile: fs.statSync(path.join(dir, name)).isFile() }));
}

interface RealRun {
  cfg: string;
  stderr: string;
}

/**
 * The ordering alone, for many listings: the real grub-mkconfig_lib sourced, then 10_linux's own
 * candidate-list block and its sort (lifted verbatim from the script text), printing the images.
 * Debian 12 picks `version_find_latest` in a loop, which this driver repeats as 10_linux does.
 */
function orderingHarness(root: string, flavour: GrubFlavour): string {
  const script = fs.readFileSync(path.join(root, 'etc/grub.d/10_linux'), 'utf8');
  const listBlock = /^machine=`uname -m`\n[\s\S]*?^esac$/m.exec(script)?.[0];
  if (!listBlock) throw new Error('10_linux no longer builds its list in a `machine=` case block');
  let order: string;
  if (flavour === 'dpkg') {
    if (!script.includes('linux=`version_find_latest $list`')) throw new Error('10_linux no longer uses version_find_latest');
    order = `while [ "x$list" != "x" ] ; do
  linux=\`version_find_latest $list\`
  case $linux in
    *.efi.signed) list=\`echo $list | tr ' ' '\\n' | grep -vx $linux | tr '\\n' ' '\`; continue ;;
  esac
  echo "$linux"
  list=\`echo $list | tr ' ' '\\n' | fgrep -vx "$linux" | tr '\\n' ' '\`
done`;
  } else {
    const sortLine = /^reverse_sorted_list=.*$/m.exec(script)?.[0];
    if (!sortLine) throw new Error('10_linux no longer sets reverse_sorted_list');
    order = `${sortLine}\nfor linux in \${reverse_sorted_list}; do echo "$linux"; done`;
  }
  return `set -e\n. "$pkgdatadir/grub-mkconfig_lib"\n${listBlock}\n${order}\n`;
}

/**
 * Runs the real 10_linux (or `harness`) once per case dir, each bind-mounted over /boot in a
 * private mount namespace; the cases are split over two namespaces running side by side.
 */
async function runTenLinux(root: string, caseDirs: string[], harness?: string): Promise<RealRun[]> {
  const outDir = fs.mkdtempSync(path.join(work, 'out'));
  const stock = /GRUB_EARLY_INITRD_LINUX_STOCK="([^"]*)"/.exec(fs.readFileSync(path.join(root, 'usr/sbin/grub-mkconfig'), 'utf8'))?.[1];
  if (stock === undefined) throw new Error('grub-mkconfig no longer sets GRUB_EARLY_INITRD_LINUX_STOCK');
  const env: Record<string, string> = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    pkgdatadir: path.join(root, 'usr/share/grub'),
    grub_probe: path.join(work, 'grub-probe'),
    grub_mkrelpath: path.join(work, 'grub-mkrelpath'),
    GRUB_DEVICE: '/dev/sda1',
    GRUB_DEVICE_BOOT: '/dev/sda1',
    GRUB_DEVICE_UUID: '0000-test',
    GRUB_DISTRIBUTOR: 'Debian',
    GRUB_EARLY_INITRD_LINUX_STOCK: stock,
  };
  const exports = Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
  let program = path.join(root, 'etc/grub.d/10_linux');
  if (harness !== undefined) {
    program = path.join(outDir, 'harness.sh');
    fs.writeFileSync(program, harness);
  }
  const driver = `set -e
${exports}
for arg in "$@"; do
  i=\${arg%%=*}; d=\${arg#*=}
  mount --bind "$d" /boot
  /bin/sh '${program}' > '${outDir}'/$i.cfg 2> '${outDir}'/$i.err || echo "exit $?" >> '${outDir}'/$i.err
  umount /boot
done
`;
  const driverPath = path.join(outDir, 'driver.sh');
  fs.writeFileSync(driverPath, driver);
  const args = caseDirs.map((d, i) => `${i}=${d}`);
  const chunks = [args.filter((_, i) => i % 2 === 0), args.filter((_, i) => i % 2 === 1)].filter((c) => c.length > 0);
  try {
    await Promise.all(
      chunks.map((chunk) => run('unshare', ['--mount', '--propagation', 'private', '/bin/sh', driverPath, ...chunk], { env: { PATH: env.PATH } })),
    );
  } catch (err) {
    throw new Error(`could not run 10_linux with a private /boot (unshare --mount needs root): ${(err as Error).message}`);
  }
  return caseDirs.map((_, i) => ({
    cfg: fs.readFileSync(path.join(outDir, `${i}.cfg`), 'utf8'),
    stderr: fs.readFileSync(path.join(outDir, `${i}.err`), 'utf8'),
  }));
}

function flatten(nodes: readonly MenuNode[]): MenuNode[] {
  return nodes.flatMap((n) => (n.kind === 'submenu' ? [n, ...flatten(n.children)] : [n]));
}

/** Each kernel once, in menu order, with the initrd line of its first entry. */
function kernelsInCfg(cfg: string): { image: string; initrds: string[] }[] {
  const seen = new Map<string, string[]>();
  for (const node of flatten(parseGrubCfg(cfg).entries)) {
    if (node.kind === 'entry' && node.linux !== undefined && !seen.has(node.linux)) seen.set(node.linux, node.initrds);
  }
  return [...seen].map(([image, initrds]) => ({ image, initrds }));
}

function materialise(c: Case, label: string): string {
  const dir = path.join(work, 'cases', label);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of c.files) fs.writeFileSync(path.join(dir, f), '');
  for (const d of c.dirs ?? []) fs.mkdirSync(path.join(dir, d));
  return dir;
}

const roots = new Map<string, string>();

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error('this test runs the real GRUB scripts in a private mount namespace and must run as root');
  }
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-grub-'));
  fs.writeFileSync(path.join(work, 'grub-probe'), STUB_PROBE, { mode: 0o755 });
  fs.writeFileSync(path.join(work, 'grub-mkrelpath'), STUB_RELPATH, { mode: 0o755 });
  for (const s of SUITES) roots.set(s.suite, await ensureSuite(s));
}, 600_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe.each(SUITES)('real 10_linux of Debian $suite', (s) => {
  const root = () => roots.get(s.suite)!;

  it(`is detected as the ${s.flavour} flavour`, () => {
    const tenLinux = fs.readFileSync(path.join(root(), 'etc/grub.d/10_linux'), 'utf8');
    const lib = fs.readFileSync(path.join(root(), 'usr/share/grub/grub-mkconfig_lib'), 'utf8');
    expect(detectFlavour(tenLinux, lib)).toBe(s.flavour);
    expect(detectFlavour(tenLinux)).toBe(s.flavour);
  });

  it('sets the early-initrd list grubMenuOrder assumes by default', () => {
    const mkconfig = fs.readFileSync(path.join(root(), 'usr/sbin/grub-mkconfig'), 'utf8');
    const stock = /GRUB_EARLY_INITRD_LINUX_STOCK="([^"]*)"/.exec(mkconfig)?.[1]?.split(' ');
    expect(stock).toEqual([...STOCK_EARLY_INITRDS]);
  });

  it(`lists kernels and initrds exactly as grubMenuOrder predicts (${FULL_CASES.length} /boot listings)`, async () => {
    const dirs = FULL_CASES.map((c, i) => materialise(c, `${s.suite}-full-${i}`));
    const real = await runTenLinux(root(), dirs);
    let compared = 0;
    FULL_CASES.forEach((c, i) => {
      const run = real[i]!;
      expect(run.stderr, `${c.name}: 10_linux failed`).not.toMatch(/^exit /m);
      const predicted = grubMenuOrder(listing(dirs[i]!), s.flavour).map((k) => ({
        image: k.image,
        initrds: [...k.earlyInitrds, ...(k.initrd ? [k.initrd] : [])],
      }));
      expect(predicted, `${c.name}: ${JSON.stringify(c.files)}`).toEqual(kernelsInCfg(run.cfg));
      // The top-level "simple" entry is the one GRUB_DEFAULT=0 boots.
      const entry = resolveDefaultEntry(parseGrubCfg(run.cfg)).entry;
      expect(entry?.linux).toBe(predicted[0]?.image);
      compared += predicted.length;
    });
    expect(compared).toBeGreaterThan(100);
  }, 400_000);

  it(`orders images exactly as 10_linux's own list-and-sort code does (${ORDER_CASES.length} /boot listings)`, async () => {
    const dirs = ORDER_CASES.map((c, i) => materialise(c, `${s.suite}-order-${i}`));
    const real = await runTenLinux(root(), dirs, orderingHarness(root(), s.flavour));
    let compared = 0;
    ORDER_CASES.forEach((c, i) => {
      const run = real[i]!;
      expect(run.stderr, `${c.name}: harness failed`).not.toMatch(/^exit /m);
      const images = run.cfg.split('\n').filter((l) => l !== '');
      expect(grubMenuOrder(listing(dirs[i]!), s.flavour).map((k) => k.image), `${c.name}: ${JSON.stringify(c.files)}`).toEqual(images);
      compared += images.length;
    });
    expect(compared).toBeGreaterThan(1000);
  }, 400_000);

  it('always puts the live kernel above its kbackup backups, newest backup first', async () => {
    const c: Case = {
      name: 'ordering contract',
      files: [
        'vmlinuz-6.1.0-18-amd64',
        'initrd.img-6.1.0-18-amd64',
        'kernel-6.1.0-18-amd64~~backup202601010000',
        'initrd.img-6.1.0-18-amd64~~backup202601010000',
        'kernel-6.1.0-18-amd64~~backup202611222040',
        'initrd.img-6.1.0-18-amd64~~backup202611222040',
        'kernel-6.1.0-18-amd64~~backup202611222040.2',
        'initrd.img-6.1.0-18-amd64~~backup202611222040.2',
      ],
    };
    const dir = materialise(c, `${s.suite}-contract`);
    const images = kernelsInCfg((await runTenLinux(root(), [dir]))[0]!.cfg).map((k) => k.image);
    expect(images).toEqual([
      '/boot/vmlinuz-6.1.0-18-amd64',
      '/boot/kernel-6.1.0-18-amd64~~backup202611222040.2',
      '/boot/kernel-6.1.0-18-amd64~~backup202611222040',
      '/boot/kernel-6.1.0-18-amd64~~backup202601010000',
    ]);
    expect(grubMenuOrder(listing(dir), s.flavour).map((k) => k.image)).toEqual(images);
  });

  it('resolves GRUB_DEFAULT=saved through a grubenv written by the real grub-editenv', async () => {
    const dir = materialise(
      {
        name: 'saved',
        files: [
          'vmlinuz-6.1.0-18-amd64',
          'initrd.img-6.1.0-18-amd64',
          'kernel-6.1.0-18-amd64~~backup202611222040',
          'initrd.img-6.1.0-18-amd64~~backup202611222040',
        ],
      },
      `${s.suite}-saved`,
    );
    const header = spawnSync('/bin/sh', [path.join(root(), 'etc/grub.d/00_header')], {
      encoding: 'utf8',
      env: {
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        pkgdatadir: path.join(root(), 'usr/share/grub'),
        grub_probe: path.join(work, 'grub-probe'),
        grub_mkrelpath: path.join(work, 'grub-mkrelpath'),
        GRUB_DEVICE: '/dev/sda1',
        GRUB_DEVICE_BOOT: '/dev/sda1',
        GRUB_DEVICE_UUID: '0000-test',
        GRUB_DEFAULT: 'saved',
      },
    });
    expect(header.status, header.stderr).toBe(0);
    const cfg = header.stdout + (await runTenLinux(root(), [dir]))[0]!.cfg;
    const menu = parseGrubCfg(cfg);
    expect(menu.defaultIsSaved).toBe(true);
    expect(menu.loadsEnv).toBe(true);
    expect(menu.honoursNextEntry).toBe(true);

    const editenv = path.join(roots.get('bookworm')!, 'usr/bin/grub-editenv');
    const envFile = path.join(work, `grubenv-${s.suite}`);
    const grubenv = (...vars: string[]): string => {
      fs.rmSync(envFile, { force: true });
      execFileSync(editenv, [envFile, 'create']);
      if (vars.length > 0) execFileSync(editenv, [envFile, 'set', ...vars]);
      return fs.readFileSync(envFile, 'latin1');
    };
    const backupId = 'gnulinux-advanced-0000-test>gnulinux-6.1.0-18-amd64~~backup202611222040-advanced-0000-test';
    const backupTitle = 'Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-18-amd64~~backup202611222040';
    const table: [string[], string | undefined, boolean][] = [
      [[], '/boot/vmlinuz-6.1.0-18-amd64', false],
      [[`saved_entry=${backupId}`], '/boot/kernel-6.1.0-18-amd64~~backup202611222040', false],
      [[`saved_entry=${backupTitle}`], '/boot/kernel-6.1.0-18-amd64~~backup202611222040', false],
      [['saved_entry=1>2'], '/boot/kernel-6.1.0-18-amd64~~backup202611222040', false],
      [['saved_entry=1'], '/boot/vmlinuz-6.1.0-18-amd64', false],
      [['saved_entry=no such entry'], '/boot/vmlinuz-6.1.0-18-amd64', true],
      [['saved_entry=0', `next_entry=${backupId}`], '/boot/kernel-6.1.0-18-amd64~~backup202611222040', false],
    ];
    for (const [vars, linux, problem] of table) {
      const text = grubenv(...vars);
      expect(Buffer.byteLength(text, 'latin1')).toBe(1024);
      expect(parseGrubenv(text).problem).toBeUndefined();
      const resolved = resolveDefaultEntry(menu, text);
      expect(resolved.entry?.linux, JSON.stringify(vars)).toBe(linux);
      expect(resolved.problem !== undefined, `${JSON.stringify(vars)}: ${resolved.problem}`).toBe(problem);
    }
  });
});

describe('grubenv written by the real grub-editenv', () => {
  it('round-trips values with backslashes, "=" and newlines', () => {
    const editenv = path.join(roots.get('bookworm')!, 'usr/bin/grub-editenv');
    const envFile = path.join(work, 'grubenv-escapes');
    execFileSync(editenv, [envFile, 'create']);
    const values = { saved_entry: 'a\\b>c=d', other: 'line1\nline2', empty: '' };
    execFileSync(editenv, [envFile, 'set', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)]);
    const listed = execFileSync(editenv, [envFile, 'list'], { encoding: 'utf8' });
    const parsed = parseGrubenv(fs.readFileSync(envFile, 'latin1'));
    expect(Object.fromEntries(parsed.vars)).toEqual(values);
    expect(listed).toContain('saved_entry=a\\b>c=d');
  });
});
