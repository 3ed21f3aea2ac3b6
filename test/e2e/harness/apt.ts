// Debian's archive as the e2e tier sees it: the machine's mirror, a private apt configuration per
// suite and pocket (so Debian 13's packages can be fetched on a Debian 12 host, and the point
// release's kernel told from the security update's), and the archive kernel .debs, downloaded once
// into .cache/e2e/debs and remembered in debs/kernels.json so later runs need no network.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { E2E_CACHE, hostMustRun, timed, withLock } from './host';

export const DEB_CACHE = path.join(E2E_CACHE, 'debs');

/** The Debian releases the e2e tier runs on. */
export const SUITES = ['bookworm', 'trixie'] as const;
export type Suite = (typeof SUITES)[number];
/** Debian's number of a suite, for test names. */
export const SUITE_NUMBER: Record<Suite, number> = { bookworm: 12, trixie: 13 };

/**
 * Where a package comes from: `release` is the suite itself (the last point release), `security`
 * is <suite>-security. Since September 2025 each kernel upload has its own ABI, so the two pockets
 * hold two different linux-image-… packages (checked by kernelDebs).
 */
export type Pocket = 'release' | 'security';

export interface Mirror {
  /** http://deb.debian.org/debian */
  debian: string;
  /** http://deb.debian.org/debian-security */
  security: string;
}

/**
 * The machine's Debian mirror, read from /etc/apt/sources.list and sources.list.d (one-line and
 * deb822). Debian 13 is fetched from the same mirror as Debian 12.
 */
export function findMirror(): Mirror {
  const entries: { uri: string; suites: string[] }[] = [];
  const files: string[] = [];
  if (fs.existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (fs.existsSync('/etc/apt/sources.list.d')) {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d').sort()) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(path.join('/etc/apt/sources.list.d', f));
    }
  }
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'mi').exec(stanza)?.[1]?.trim();
        if (field('Enabled') === 'no') continue;
        if (!(field('Types') ?? '').split(/\s+/).includes('deb')) continue;
        const uris = (field('URIs') ?? '').split(/\s+/).filter(Boolean);
        const suites = (field('Suites') ?? '').split(/\s+/).filter(Boolean);
        for (const uri of uris) entries.push({ uri, suites });
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m) entries.push({ uri: m[1]!, suites: [m[2]!] });
      }
    }
  }
  const isDebian = (s: string) => SUITES.some((suite) => s === suite || s === `${suite}-updates`);
  const debian = entries.find((e) => e.suites.some(isDebian) && !/security/.test(e.uri));
  if (!debian) throw new Error('no apt source for Debian 12 or 13 in /etc/apt/sources.list(.d); the e2e tier needs the machine\'s Debian mirror');
  const security = entries.find((e) => e.suites.some((s) => /-security$/.test(s)));
  const strip = (u: string) => u.replace(/\/+$/, '');
  return {
    debian: strip(debian.uri),
    // deb.debian.org serves both; a machine without a security source still gets the usual one.
    security: strip(security?.uri ?? debian.uri.replace(/\/debian\/?$/, '/debian-security')),
  };
}

/** The apt source lines a chroot of `suite` gets (release, updates, security). */
export function chrootSources(suite: Suite, mirror: Mirror = findMirror()): string[] {
  return [`deb ${mirror.debian} ${suite} main`, `deb ${mirror.debian} ${suite}-updates main`, `deb ${mirror.security} ${suite}-security main`];
}

// ---------------------------------------------------------------------------------------------
// A private apt per suite and pocket (the host's own apt configuration is never changed)

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const LISTS_MAX_AGE_MS = 12 * 3600_000;

function aptDir(suite: Suite, pocket: Pocket): string {
  return path.join(E2E_CACHE, 'apt', `${suite}-${pocket}`);
}

function aptOptions(suite: Suite, pocket: Pocket): string[] {
  const dir = aptDir(suite, pocket);
  return [
    `-o`, `Dir::Etc::SourceList=${dir}/sources.list`,
    `-o`, 'Dir::Etc::SourceParts=/nonexistent',
    `-o`, `Dir::State::Lists=${dir}/lists`,
    `-o`, `Dir::Cache=${dir}/cache`,
    `-o`, `Dir::State::status=${dir}/status`,
    `-o`, 'APT::Architecture=amd64',
    `-o`, 'Acquire::Languages=none',
    `-o`, 'APT::Sandbox::User=root',
  ];
}

const updated = new Set<string>();

/** Fresh package lists for one suite and pocket (fetched at most every 12 hours). */
async function aptReady(suite: Suite, pocket: Pocket): Promise<string[]> {
  const key = `${suite}-${pocket}`;
  const options = aptOptions(suite, pocket);
  if (updated.has(key)) return options;
  const dir = aptDir(suite, pocket);
  await withLock(`apt-${key}`, async () => {
    const mirror = findMirror();
    const line = pocket === 'security' ? `deb [signed-by=${KEYRING}] ${mirror.security} ${suite}-security main` : `deb [signed-by=${KEYRING}] ${mirror.debian} ${suite} main`;
    for (const sub of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    if (!fs.existsSync(path.join(dir, 'status'))) fs.writeFileSync(path.join(dir, 'status'), '');
    const sources = path.join(dir, 'sources.list');
    const same = fs.existsSync(sources) && fs.readFileSync(sources, 'utf8') === `${line}\n`;
    const lists = fs.readdirSync(path.join(dir, 'lists')).filter((f) => f.endsWith('_Packages'));
    const fresh = lists.length > 0 && Date.now() - fs.statSync(path.join(dir, 'lists', lists[0]!)).mtimeMs < LISTS_MAX_AGE_MS;
    if (same && fresh) return;
    fs.writeFileSync(sources, `${line}\n`);
    await timed(`apt-get update (${key})`, () => hostMustRun('apt-get', [...options, 'update', '-qq'], { timeoutMs: 600_000 }));
  });
  updated.add(key);
  return options;
}

/** apt-cache with the private configuration of one suite and pocket. */
export async function aptCache(suite: Suite, pocket: Pocket, args: readonly string[]): Promise<string> {
  const options = await aptReady(suite, pocket);
  return (await hostMustRun('apt-cache', [...options, ...args])).stdout;
}

/** `apt-get download` of one package (pkg or pkg=version) of a suite and pocket into the deb cache. */
export async function download(suite: Suite, pocket: Pocket, spec: string): Promise<string> {
  const show = await aptCache(suite, pocket, ['show', '--no-all-versions', spec]);
  const filename = /^Filename:\s*(\S+)$/m.exec(show)?.[1];
  const size = Number(/^Size:\s*(\d+)$/m.exec(show)?.[1]);
  if (!filename) throw new Error(`apt-cache show ${spec} (${suite}, ${pocket}): no Filename`);
  fs.mkdirSync(DEB_CACHE, { recursive: true });
  const file = path.join(DEB_CACHE, path.basename(filename));
  if (fs.existsSync(file) && fs.statSync(file).size === size) return file;
  const options = await aptReady(suite, pocket);
  await timed(`apt-get download ${spec} (${suite}, ${pocket})`, () =>
    hostMustRun('apt-get', [...options, 'download', spec], { cwd: DEB_CACHE, timeoutMs: 1_200_000 }),
  );
  if (!fs.existsSync(file)) throw new Error(`apt-get download ${spec} did not leave ${file}`);
  return file;
}

export function debField(deb: string, field: string): string {
  const r = spawnSync('dpkg-deb', ['-f', deb, field], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dpkg-deb -f ${deb} ${field}: ${r.stderr}`);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------------------------
// Kernel packages

const FLAVOURS = { amd64: 'linux-image-amd64', 'cloud-amd64': 'linux-image-cloud-amd64' } as const;
export type Flavour = keyof typeof FLAVOURS;

export interface KernelSource {
  suite?: Suite;
  pocket?: Pocket;
}

export interface KernelDebs {
  flavour: Flavour;
  suite: Suite;
  pocket: Pocket;
  /** `uname -r` of the kernel: 6.1.0-50-amd64, 6.12.117+deb13-amd64 */
  version: string;
  /** Debian version of the image package: 6.1.176-1 */
  packageVersion: string;
  /** linux-image-6.1.0-50-amd64 */
  imagePackage: string;
  imageDeb: string;
  /** linux-image-amd64 */
  metaPackage: string;
  metaDeb: string;
}

/**
 * The archive's kernel .debs of a flavour in a suite's pocket (default: bookworm's point release),
 * downloaded once and remembered in debs/kernels.json.
 */
export async function kernelDebs(flavour: Flavour, source: KernelSource = {}): Promise<KernelDebs> {
  const suite = source.suite ?? 'bookworm';
  const pocket = source.pocket ?? 'release';
  const key = `${suite}/${pocket}/${flavour}`;
  fs.mkdirSync(DEB_CACHE, { recursive: true });
  const index = path.join(DEB_CACHE, 'kernels.json');
  const read = (): Record<string, KernelDebs> => (fs.existsSync(index) ? (JSON.parse(fs.readFileSync(index, 'utf8')) as Record<string, KernelDebs>) : {});
  const usable = (k: KernelDebs | undefined): k is KernelDebs => k !== undefined && fs.existsSync(k.imageDeb) && fs.existsSync(k.metaDeb);
  const known = read()[key];
  if (usable(known)) return known;
  return withLock('debs', async () => {
    const again = read()[key];
    if (usable(again)) return again;
    const metaPackage = FLAVOURS[flavour];
    const meta = await download(suite, pocket, metaPackage);
    const dep = /(linux-image-[^\s,(]+)\s*\(=\s*([^)\s]+)\)/.exec(debField(meta, 'Depends'));
    if (!dep) throw new Error(`${meta} does not depend on one linux-image-… package`);
    const [, imagePackage, packageVersion] = dep as unknown as [string, string, string];
    const image = await download(suite, pocket, `${imagePackage}=${packageVersion}`);
    const entry: KernelDebs = {
      flavour,
      suite,
      pocket,
      version: imagePackage.replace(/^linux-image-/, ''),
      packageVersion,
      imagePackage,
      imageDeb: image,
      metaPackage,
      metaDeb: meta,
    };
    const all = read();
    all[key] = entry;
    fs.writeFileSync(`${index}.${process.pid}.tmp`, JSON.stringify(all, null, 2));
    fs.renameSync(`${index}.${process.pid}.tmp`, index);
    return entry;
  });
}

/**
 * The new-ABI update of a suite: the point release's kernel and the security update's, checked to
 * be two different packages (two ABIs), as Debian ships every kernel upload since September 2025.
 */
export async function newAbiPair(suite: Suite, flavour: Flavour = 'amd64'): Promise<{ old: KernelDebs; new: KernelDebs }> {
  const old = await kernelDebs(flavour, { suite, pocket: 'release' });
  const next = await kernelDebs(flavour, { suite, pocket: 'security' });
  if (old.imagePackage === next.imagePackage) {
    throw new Error(`${suite} and ${suite}-security carry the same kernel package ${old.imagePackage}: no new-ABI update to test`);
  }
  return { old, new: next };
}
