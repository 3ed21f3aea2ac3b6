// Real-Debian harness for the e2e tier: a Debian 12 chroot with real dpkg, a real kernel package,
// real initramfs-tools and the real update-grub, with kbackup installed from dist/.
//
// API (all paths "inside" are paths as seen in the chroot; `chroot.host(p)` maps them to the host):
//
//   const c = await createChroot({ label: 'my-test' });   // fresh tree, mounts, kernel, kbackup
//   afterAll(() => c.dispose());                           // unmounts everything, deletes the tree
//   await c.run('update-initramfs -u', { env: { X: '1' } })  -> { code, stdout, stderr } (never throws)
//   await c.mustRun('…')                                   -> same, but throws with the output on code ≠ 0
//   c.kernel            the installed kernel: { version: '6.1.0-N-amd64', packageVersion, imagePackage, … }
//   await c.kernelUpdate()      builds the next same-name "security update" (+kbtestN) and dpkg -i's it
//   await c.installDeb(hostPath, …) copies a .deb in and runs dpkg -i (returns the RunResult)
//   await c.updateGrub()        runs the real update-grub; returns grub.cfg's text
//   await c.kbackup('list --json')  runs /usr/sbin/kbackup inside the chroot
//   c.writeConfig('KEEP=4\n')       writes /etc/default/kbackup
//   c.bootFiles()               { name: { sha256, size, mode, mtimeMs } } for every regular file in /boot
//   c.sha256('/boot/…'), c.exists(p), c.readFile(p), c.writeFile(p, data, mode?)
//   grubLinuxPaths(cfgText) / grubEntries(cfgText)   the image paths (and initrds) in grub.cfg order
//   c.packageVersion('kbackup')  the installed version, '' when not installed
//   c.host('/boot/x')            the host path of a chroot path; c.work is a scratch dir next to the root
//   createChroot({ kbackup: false })   a chroot without kbackup (then c.installKbackup() or c.installDeb())
//   kernelDebs('amd64' | 'cloud-amd64')              the cached archive .debs of a kernel flavour
//   buildKernelUpdate(n) / repackDeb(src, version)   re-packed .debs (cached under .cache/e2e/debs)
//   extractFromDeb(deb, '/boot/x', hostDest)         one file out of a .deb
//   findKbackupDeb()                                 dist/kbackup_*.deb, if `npm run deb` made one
//   backupNamePattern(stem, version), backupSuffixes(names, version)   the spec's backup names
//   hostRun(file, args), sha256File(hostPath)        host-side helpers
//
// kbackup comes from dist/kbackup_*.deb when present (CI: npm run build && npm run deb && npm test),
// else dist/kbackup plus the hooks/ shims and packaging/kbackup.default copied where the .deb puts
// them. The chroot has no node: the single executable must run on its own. Commands run with a
// clean environment (PATH, LANG=C.UTF-8, HOME, DEBIAN_FRONTEND=noninteractive; add with { env }).
//
// Caches (under <repo>/.cache/e2e, git-ignored): base-<hash>.tar.zst (debootstrap minbase of
// bookworm with initramfs-tools and GRUB's scripts, keyed by suite + mirror + package list + recipe),
// kernel-<hash>.tar.zst (that plus the archive kernel installed), debs/ (the downloaded kernel
// .debs and the re-packed updates). A first run needs the apt mirror (about 5 minutes); later runs
// unpack a tarball in seconds (dpkg runs with force-unsafe-io there: its fsyncs only guard a
// throw-away tree against power loss; kbackup's own fsyncs are untouched). Chroots live in
// .cache/e2e/run/<pid>-<label>-<random>; a run whose pid is dead is a crashed one: its mounts are
// unmounted and its tree removed before a new chroot is made (never one of a live process:
// another vitest may be running at the same time).
//
// The chroot has no disk of its own: /usr/sbin/grub-probe is diverted (dpkg-divert --local
// --rename) and replaced by fixtures/grub-probe, which answers for an ext2 /dev/sda1 holding / and
// /boot, so grub-mkconfig and /etc/grub.d/10_linux run unmodified and grub.cfg has /boot/… paths.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../..');
// Through the real path: .cache may be a symlink, and mounts under it show up in /proc/self/mounts
// by their real path, which is what unmountAllUnder compares against.
export const E2E_CACHE = path.join(fs.existsSync(path.join(REPO_ROOT, '.cache')) ? fs.realpathSync(path.join(REPO_ROOT, '.cache')) : path.join(REPO_ROOT, '.cache'), 'e2e');
const DEB_CACHE = path.join(E2E_CACHE, 'debs');
const RUN_DIR = path.join(E2E_CACHE, 'run');
const FIXTURES = path.join(__dirname, 'fixtures');

export const SUITE = 'bookworm';
/** Packages on top of minbase: what a kernel update on a GRUB/BIOS Debian system runs. */
export const BASE_PACKAGES = [
  'initramfs-tools',
  'kmod',
  'linux-base',
  'grub-common',
  'grub2-common',
  'grub-pc-bin',
  'zstd',
  'busybox',
  'cpio',
] as const;
/** Bump when the chroot recipe below changes, so old tarballs are not reused. */
const RECIPE = 'kbackup-e2e-1';

const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
}

export interface KernelDebs {
  flavour: string;
  /** `uname -r` of the kernel: 6.1.0-56-amd64 */
  version: string;
  /** Debian version of the image package: 6.1.192-2 */
  packageVersion: string;
  /** linux-image-6.1.0-56-amd64 */
  imagePackage: string;
  imageDeb: string;
  /** linux-image-amd64 */
  metaPackage: string;
  metaDeb: string;
}

export interface FileInfo {
  sha256: string;
  size: number;
  mode: number;
  mtimeMs: number;
}

// ---------------------------------------------------------------------------------------------
// Host processes

/** Runs a program on the host; never throws for a non-zero exit. Kills the process group on timeout. */
export function hostRun(file: string, args: readonly string[], options: RunOptions & { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args as string[], {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, options.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (timedOut ? `\n[harness: killed after ${options.timeoutMs} ms]` : '');
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a child that does not read its input is not an error
      child.stdin.end(options.input);
    }
  });
}

async function hostMustRun(file: string, args: readonly string[], options: RunOptions & { cwd?: string } = {}): Promise<RunResult> {
  const r = await hostRun(file, args, options);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}\n${tail(r.stdout)}\n${tail(r.stderr)}`);
  return r;
}

function tail(text: string, lines = 60): string {
  return text.split('\n').slice(-lines).join('\n');
}

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function log(message: string): void {
  process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await fn();
  log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Mounts

interface Mount {
  mountPoint: string;
}

function mountsUnder(dir: string): Mount[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const raw = fields[4];
    if (!raw) continue;
    const mountPoint = raw.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (mountPoint === dir || mountPoint.startsWith(prefix)) mounts.push({ mountPoint });
  }
  return mounts;
}

/** Unmounts everything at or below dir, deepest first (synchronous so it also works in an exit handler). */
export function unmountAllUnder(dir: string): void {
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      const r = spawnSync('umount', [m.mountPoint], { encoding: 'utf8' });
      if (r.status !== 0) spawnSync('umount', ['-l', m.mountPoint], { encoding: 'utf8' });
    }
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`could not unmount: ${left.map((m) => m.mountPoint).join(', ')}`);
}

/** Deletes a chroot tree, but only once nothing is mounted below it (a bind of /dev would be the host's). */
function removeTree(dir: string): void {
  unmountAllUnder(dir);
  if (mountsUnder(dir).length > 0) throw new Error(`refusing to delete ${dir}: still has mounts`);
  spawnSync('rm', ['-rf', '--one-file-system', dir]);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Unmounts and deletes chroots left by runs whose process is gone (a crash, a killed vitest). */
export function cleanLeftovers(): void {
  if (!fs.existsSync(RUN_DIR)) return;
  for (const entry of fs.readdirSync(RUN_DIR)) {
    const pid = Number(/^(\d+)-/.exec(entry)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (pid === process.pid || pidAlive(pid)) continue;
    log(`removing leftover chroot ${entry}`);
    removeTree(path.join(RUN_DIR, entry));
  }
}

const liveChroots = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // afterAll normally disposes; this catches a worker that exits without running it.
  process.on('exit', () => {
    for (const dir of liveChroots) {
      try {
        unmountAllUnder(dir);
      } catch {
        /* best effort on exit */
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// A simple cross-process lock (mkdir is atomic), so two vitest runs never build the same cache twice.

async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(E2E_CACHE, { recursive: true });
  const dir = path.join(E2E_CACHE, `${name}.lock`);
  for (;;) {
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
      } catch {
        /* being created right now */
      }
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The apt mirror the machine uses

export interface Mirror {
  /** http://deb.debian.org/debian */
  debian: string;
  /** http://deb.debian.org/debian-security, if configured */
  security?: string;
}

/** Reads /etc/apt/sources.list and sources.list.d (one-line and deb822) for bookworm's mirrors. */
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
  const debian = entries.find((e) => e.suites.includes(SUITE) && !/security/.test(e.uri));
  if (!debian) throw new Error(`no apt source for ${SUITE} in /etc/apt/sources.list(.d); the e2e tier needs the machine's Debian mirror`);
  const security = entries.find((e) => e.suites.includes(`${SUITE}-security`));
  return { debian: debian.uri.replace(/\/+$/, ''), security: security?.uri.replace(/\/+$/, '') };
}

// ---------------------------------------------------------------------------------------------
// Cached tarballs

function hashOf(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

function baseKey(mirror: Mirror): string {
  const probe = fs.readFileSync(path.join(FIXTURES, 'grub-probe'), 'utf8');
  return hashOf([RECIPE, SUITE, mirror.debian, mirror.security ?? '', ...BASE_PACKAGES, probe]);
}

async function packTree(dir: string, tarball: string): Promise<void> {
  const tmp = `${tarball}.${process.pid}.tmp`;
  await hostMustRun('tar', ['--numeric-owner', '-I', 'zstd -T0 -3', '-C', dir, '-cpf', tmp, '.']);
  fs.renameSync(tmp, tarball);
}

async function unpackTree(tarball: string, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await hostMustRun('tar', ['--numeric-owner', '-I', 'zstd -d -T0', '-C', dir, '-xpf', tarball]);
}

function newRunDir(label: string): string {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  const dir = path.join(RUN_DIR, `${process.pid}-${label.replace(/[^A-Za-z0-9_.-]/g, '_')}-${randomBytes(3).toString('hex')}`);
  fs.mkdirSync(dir);
  return dir;
}

/** The base tarball: minbase + BASE_PACKAGES, apt sources, /etc/default/grub, grub-probe stand-in, empty grub.cfg. */
export async function baseTarball(): Promise<string> {
  const mirror = findMirror();
  const tarball = path.join(E2E_CACHE, `base-${baseKey(mirror)}.tar.zst`);
  if (fs.existsSync(tarball)) return tarball;
  return withLock('base', async () => {
    if (fs.existsSync(tarball)) return tarball;
    cleanLeftovers();
    const work = newRunDir('debootstrap');
    const root = path.join(work, 'root');
    try {
      await timed('debootstrap', () =>
        hostMustRun('debootstrap', ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, SUITE, root, mirror.debian], {
          timeoutMs: 1_500_000,
        }),
      );
      const c = new Chroot(work, root, undefined);
      await c.mount();
      try {
        await setUpBase(c, mirror);
      } finally {
        c.unmount();
      }
      await timed('pack base tarball', () => packTree(root, tarball));
    } finally {
      removeTree(work);
    }
    return tarball;
  });
}

async function setUpBase(c: Chroot, mirror: Mirror): Promise<void> {
  const sources = [`deb ${mirror.debian} ${SUITE} main`, `deb ${mirror.debian} ${SUITE}-updates main`];
  if (mirror.security) sources.push(`deb ${mirror.security} ${SUITE}-security main`);
  c.writeFile('/etc/apt/sources.list', `${sources.join('\n')}\n`);
  // dpkg's own fsyncs are what make unpacking a 400 MB kernel slow on a VM disk; they protect
  // against power loss, which a throw-away chroot does not care about. kbackup's fsyncs are its own.
  c.writeFile('/etc/dpkg/dpkg.cfg.d/kbackup-e2e-unsafe-io', 'force-unsafe-io\n');
  // A real grub-pc install puts this file in place (ucf, from the package's template).
  fs.copyFileSync(c.host('/usr/share/grub/default/grub'), c.host('/etc/default/grub'));
  await c.mustRun('dpkg-divert --local --rename --add /usr/sbin/grub-probe');
  c.writeFile('/usr/sbin/grub-probe', fs.readFileSync(path.join(FIXTURES, 'grub-probe')), 0o755);
  fs.mkdirSync(c.host('/boot/grub'), { recursive: true });
  // zz-update-grub only runs update-grub when grub.cfg exists, as on an installed system.
  await c.mustRun('update-grub');
  await c.mustRun('apt-get clean');
}

/** The kernel tarball: the base plus the archive's linux-image-amd64 installed (no kbackup). */
export async function kernelTarball(): Promise<string> {
  const base = await baseTarball();
  const k = await kernelDebs('amd64');
  const tarball = path.join(E2E_CACHE, `kernel-${hashOf([path.basename(base), path.basename(k.imageDeb), path.basename(k.metaDeb)])}.tar.zst`);
  if (fs.existsSync(tarball)) return tarball;
  return withLock('kernel', async () => {
    if (fs.existsSync(tarball)) return tarball;
    cleanLeftovers();
    const work = newRunDir('kernel-layer');
    const root = path.join(work, 'root');
    try {
      await timed('unpack base', () => unpackTree(base, root));
      const c = new Chroot(work, root, k);
      await c.mount();
      try {
        const r = await timed(`install ${k.imagePackage} ${k.packageVersion}`, () => c.installDeb([k.imageDeb, k.metaDeb]));
        if (r.code !== 0) throw new Error(`installing the archive kernel failed:\n${r.stdout}\n${r.stderr}`);
        await c.mustRun('rm -f /tmp/*.deb');
      } finally {
        c.unmount();
      }
      await timed('pack kernel tarball', () => packTree(root, tarball));
    } finally {
      removeTree(work);
    }
    return tarball;
  });
}

// ---------------------------------------------------------------------------------------------
// Kernel packages

const FLAVOURS = { amd64: 'linux-image-amd64', 'cloud-amd64': 'linux-image-cloud-amd64' } as const;
export type Flavour = keyof typeof FLAVOURS;

function debField(deb: string, field: string): string {
  const r = spawnSync('dpkg-deb', ['-f', deb, field], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dpkg-deb -f ${deb} ${field}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * The archive's kernel .debs of a flavour, downloaded once with the host's apt (`apt-get download`
 * uses the same mirror) and remembered in debs/kernels.json, so later runs need no network.
 */
export async function kernelDebs(flavour: Flavour): Promise<KernelDebs> {
  fs.mkdirSync(DEB_CACHE, { recursive: true });
  const index = path.join(DEB_CACHE, 'kernels.json');
  const read = (): Record<string, KernelDebs> => (fs.existsSync(index) ? (JSON.parse(fs.readFileSync(index, 'utf8')) as Record<string, KernelDebs>) : {});
  const known = read()[flavour];
  if (known && fs.existsSync(known.imageDeb) && fs.existsSync(known.metaDeb)) return known;
  return withLock('debs', async () => {
    const again = read()[flavour];
    if (again && fs.existsSync(again.imageDeb) && fs.existsSync(again.metaDeb)) return again;
    const metaPackage = FLAVOURS[flavour];
    const meta = await download(metaPackage);
    const dep = /(linux-image-[^\s,(]+)\s*\(=\s*([^)\s]+)\)/.exec(debField(meta, 'Depends'));
    if (!dep) throw new Error(`${meta} does not depend on one linux-image-… package`);
    const [, imagePackage, packageVersion] = dep as unknown as [string, string, string];
    const image = await download(`${imagePackage}=${packageVersion}`);
    const entry: KernelDebs = {
      flavour,
      version: imagePackage.replace(/^linux-image-/, ''),
      packageVersion,
      imagePackage,
      imageDeb: image,
      metaPackage,
      metaDeb: meta,
    };
    const all = read();
    all[flavour] = entry;
    fs.writeFileSync(`${index}.tmp`, JSON.stringify(all, null, 2));
    fs.renameSync(`${index}.tmp`, index);
    return entry;
  });
}

/** `apt-get download` of one package (pkg or pkg=version) into the deb cache; returns the file. */
async function download(spec: string): Promise<string> {
  const show = await hostMustRun('apt-cache', ['show', '--no-all-versions', spec]);
  const filename = /^Filename:\s*(\S+)$/m.exec(show.stdout)?.[1];
  if (!filename) throw new Error(`apt-cache show ${spec}: no Filename`);
  const file = path.join(DEB_CACHE, path.basename(filename));
  await timed(`apt-get download ${spec}`, () => hostMustRun('apt-get', ['download', spec], { cwd: DEB_CACHE, timeoutMs: 1_200_000 }));
  if (!fs.existsSync(file)) throw new Error(`apt-get download ${spec} did not leave ${file}`);
  return file;
}

/** Copies the file a .deb ships at `inside` to `dest` on the host. */
export async function extractFromDeb(deb: string, inside: string, dest: string): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(E2E_CACHE, 'x-'));
  try {
    await hostMustRun('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "./${3#/}"', 'sh', deb, tmp, inside]);
    fs.copyFileSync(path.join(tmp, inside), dest);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Re-packs a .deb under another Version, letting `edit` change the unpacked tree first (paths are
 * relative to the package root). The result is cached by source, version and editTag.
 */
export async function repackDeb(
  sourceDeb: string,
  version: string,
  options: { editTag?: string; edit?: (tree: string) => void; outDir?: string } = {},
): Promise<string> {
  const pkg = debField(sourceDeb, 'Package');
  const arch = debField(sourceDeb, 'Architecture');
  const outDir = options.outDir ?? path.join(DEB_CACHE, 'repacked');
  fs.mkdirSync(outDir, { recursive: true });
  const stat = fs.statSync(sourceDeb);
  const tag = hashOf([path.basename(sourceDeb), String(stat.size), String(stat.mtimeMs), version, options.editTag ?? '']);
  const stem = `${pkg}_${version.replace(/:/g, '%3a')}_${arch}.`;
  const out = path.join(outDir, `${stem}${tag}.deb`);
  if (fs.existsSync(out)) return out;
  // Re-packs of an older source (a rebuilt dist/kbackup_*.deb) are never used again.
  for (const f of fs.readdirSync(outDir)) if (f.startsWith(stem) && f.endsWith('.deb')) fs.rmSync(path.join(outDir, f), { force: true });
  const tree = fs.mkdtempSync(path.join(E2E_CACHE, 'repack-'));
  try {
    await hostMustRun('dpkg-deb', ['-R', sourceDeb, tree]);
    const controlFile = path.join(tree, 'DEBIAN/control');
    const control = fs.readFileSync(controlFile, 'utf8');
    if (!/^Version: .*$/m.test(control)) throw new Error(`${sourceDeb}: no Version field`);
    fs.writeFileSync(controlFile, control.replace(/^Version: .*$/m, `Version: ${version}`));
    if (options.edit) {
      options.edit(tree);
      // Keep DEBIAN/md5sums true to the files, as a real build would.
      const md5 = path.join(tree, 'DEBIAN/md5sums');
      if (fs.existsSync(md5)) {
        const lines = fs.readFileSync(md5, 'utf8').split('\n').filter(Boolean);
        const fixed = lines.map((line) => {
          const file = line.slice(34);
          const full = path.join(tree, file);
          return `${createHash('md5').update(fs.readFileSync(full)).digest('hex')}  ${file}`;
        });
        fs.writeFileSync(md5, `${fixed.join('\n')}\n`);
      }
    }
    const tmp = `${out}.${process.pid}.tmp`;
    await hostMustRun('dpkg-deb', ['-Zzstd', '-z1', '--root-owner-group', '-b', tree, tmp]);
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(tree, { recursive: true, force: true });
  }
  return out;
}

/** The n-th same-name "security update" of the archive kernel: Version +kbtestN, different bytes. */
export async function buildKernelUpdate(n: number, flavour: Flavour = 'amd64'): Promise<string> {
  const k = await kernelDebs(flavour);
  const marker = `kbackup e2e update ${n}\n`;
  return repackDeb(k.imageDeb, `${k.packageVersion}+kbtest${n}`, {
    editTag: `update-${n}`,
    edit: (tree) => {
      // Bytes appended after a bzImage are ignored by the loader; nothing boots the update anyway
      // (the qemu test boots a backup of the archive's original image).
      fs.appendFileSync(path.join(tree, `boot/vmlinuz-${k.version}`), marker);
      fs.appendFileSync(path.join(tree, `boot/config-${k.version}`), `# ${marker}`);
      fs.appendFileSync(path.join(tree, `boot/System.map-${k.version}`), `ffffffffffffffff A kbtest_update_${n}\n`);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// kbackup's build outputs

export interface KbackupBuild {
  kind: 'deb' | 'files';
  /** The .deb, when kind is 'deb'. */
  deb?: string;
  version?: string;
}

/** dist/kbackup_<version>_amd64.deb when `npm run deb` made one (package.json's version preferred). */
export function findKbackupDeb(): string | undefined {
  const dist = path.join(REPO_ROOT, 'dist');
  if (!fs.existsSync(dist)) return undefined;
  const debs = fs.readdirSync(dist).filter((f) => /^kbackup_.*\.deb$/.test(f));
  if (debs.length === 0) return undefined;
  const pkgVersion = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const exact = debs.find((f) => f.startsWith(`kbackup_${pkgVersion}_`));
  if (exact) return path.join(dist, exact);
  const newest = debs.map((f) => path.join(dist, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return newest[0];
}

// ---------------------------------------------------------------------------------------------
// The chroot

export class Chroot {
  /** Host path of the chroot's root directory. */
  readonly root: string;
  /** The directory holding the root (deleted by dispose). */
  readonly work: string;
  private readonly kernelDebs: KernelDebs | undefined;
  private updates = 0;
  private mounted = false;
  kbackupBuild: KbackupBuild | undefined;

  constructor(work: string, root: string, kernel: KernelDebs | undefined) {
    this.work = work;
    this.root = root;
    this.kernelDebs = kernel;
  }

  /** The installed archive kernel. */
  get kernel(): KernelDebs {
    if (!this.kernelDebs) throw new Error('this chroot has no kernel');
    return this.kernelDebs;
  }

  host(inside: string): string {
    return path.join(this.root, inside);
  }

  async mount(): Promise<void> {
    liveChroots.add(this.work);
    installExitHook();
    // update-initramfs and dpkg need /proc (update-initramfs keeps its .dpkg-bak only with
    // /proc/uptime), /sys (mkinitramfs, udev hooks) and /dev (null, urandom, console).
    await hostMustRun('mount', ['-t', 'proc', 'proc', this.host('/proc')]);
    await hostMustRun('mount', ['-t', 'sysfs', 'sysfs', this.host('/sys')]);
    await hostMustRun('mount', ['--bind', '/dev', this.host('/dev')]);
    this.mounted = true;
  }

  unmount(): void {
    unmountAllUnder(this.root);
    this.mounted = false;
  }

  /** Unmounts everything (also what tests mounted, e.g. a tmpfs on /boot) and deletes the tree. */
  async dispose(): Promise<void> {
    try {
      removeTree(this.work);
    } finally {
      liveChroots.delete(this.work);
    }
  }

  /** Runs a shell command inside the chroot with a clean environment; never throws for a non-zero exit. */
  run(cmd: string, options: RunOptions = {}): Promise<RunResult> {
    if (!this.mounted) throw new Error('chroot is not mounted');
    const env = {
      PATH: CHROOT_PATH,
      LANG: 'C.UTF-8',
      HOME: '/root',
      DEBIAN_FRONTEND: 'noninteractive',
      TERM: 'dumb',
      ...options.env,
    };
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return hostRun('chroot', [this.root, '/usr/bin/env', '-i', ...envArgs, '/bin/sh', '-c', cmd], {
      timeoutMs: options.timeoutMs ?? 900_000,
      input: options.input,
    });
  }

  async mustRun(cmd: string, options: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(cmd, options);
    if (r.code !== 0) throw new Error(`in chroot: ${cmd}\nexited ${r.code}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`);
    return r;
  }

  kbackup(args: string, options: RunOptions = {}): Promise<RunResult> {
    return this.run(`/usr/sbin/kbackup ${args}`, options);
  }

  exists(inside: string): boolean {
    return fs.existsSync(this.host(inside));
  }

  readFile(inside: string): string {
    return fs.readFileSync(this.host(inside), 'utf8');
  }

  writeFile(inside: string, data: string | Buffer, mode = 0o644): void {
    const file = this.host(inside);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
    fs.chmodSync(file, mode);
  }

  /** Writes /etc/default/kbackup. */
  writeConfig(text: string): void {
    this.writeFile('/etc/default/kbackup', text);
  }

  sha256(inside: string): string {
    return sha256File(this.host(inside));
  }

  /** Every regular file directly in /boot with its checksum, size, permission bits and mtime. */
  bootFiles(): Record<string, FileInfo> {
    const out: Record<string, FileInfo> = {};
    for (const name of fs.readdirSync(this.host('/boot')).sort()) {
      const file = this.host(`/boot/${name}`);
      const st = fs.lstatSync(file);
      if (!st.isFile()) continue;
      out[name] = { sha256: sha256File(file), size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
    }
    return out;
  }

  /** Installed version of a package, or '' when it is not installed. */
  async packageVersion(pkg: string): Promise<string> {
    const r = await this.run(`dpkg-query -W -f='\${db:Status-Abbrev}|\${Version}' ${pkg}`);
    if (r.code !== 0) return '';
    const [status, version] = r.stdout.split('|');
    return status?.startsWith('ii') ? (version ?? '') : '';
  }

  /** Copies .debs into /tmp of the chroot and runs dpkg -i on them (conffile questions answered "keep"). */
  async installDeb(hostDebs: string | readonly string[], options: RunOptions & { dpkgArgs?: string } = {}): Promise<RunResult> {
    const debs = typeof hostDebs === 'string' ? [hostDebs] : hostDebs;
    const inside: string[] = [];
    for (const deb of debs) {
      const name = `/tmp/${path.basename(deb)}`;
      fs.copyFileSync(deb, this.host(name));
      inside.push(name);
    }
    try {
      return await this.run(`dpkg --force-confdef --force-confold ${options.dpkgArgs ?? ''} -i ${inside.join(' ')}`, options);
    } finally {
      for (const name of inside) fs.rmSync(this.host(name), { force: true });
    }
  }

  /**
   * Builds and installs the next same-name update of the archive kernel (the Debian Stable security
   * update case: same package name, files overwritten in place). Returns dpkg's result.
   */
  async kernelUpdate(options: RunOptions = {}): Promise<RunResult & { deb: string; packageVersion: string }> {
    const n = ++this.updates;
    const deb = await buildKernelUpdate(n);
    const t0 = Date.now();
    const r = await this.installDeb(deb, options);
    log(`kernel update ${n} (dpkg -i): ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.code}`);
    return { ...r, deb, packageVersion: `${this.kernel.packageVersion}+kbtest${n}` };
  }

  /** Runs the real update-grub and returns the new grub.cfg. */
  async updateGrub(): Promise<string> {
    await this.mustRun('update-grub');
    return this.readFile('/boot/grub/grub.cfg');
  }

  /**
   * Installs kbackup: dist/kbackup_*.deb if `npm run deb` made one, else dist/kbackup and the shims
   * from hooks/ copied where the .deb would put them.
   */
  async installKbackup(): Promise<KbackupBuild> {
    const deb = findKbackupDeb();
    if (deb) {
      const exe = path.join(REPO_ROOT, 'dist/kbackup');
      if (fs.existsSync(exe) && fs.statSync(exe).mtimeMs > fs.statSync(deb).mtimeMs + 1000) {
        log(`warning: ${path.relative(REPO_ROOT, deb)} is older than dist/kbackup; run \`npm run deb\` to test the current build`);
      }
      log(`installing ${path.relative(REPO_ROOT, deb)}`);
      const r = await this.installDeb(deb);
      if (r.code !== 0) throw new Error(`dpkg -i ${deb} failed:\n${r.stdout}\n${r.stderr}`);
      this.kbackupBuild = { kind: 'deb', deb, version: debField(deb, 'Version') };
      return this.kbackupBuild;
    }
    const exe = path.join(REPO_ROOT, 'dist/kbackup');
    if (!fs.existsSync(exe)) throw new Error('neither dist/kbackup_*.deb nor dist/kbackup exists: run `npm run build` (and `npm run deb`) first');
    this.writeFile('/usr/sbin/kbackup', fs.readFileSync(exe), 0o755);
    const hooks = path.join(REPO_ROOT, 'hooks');
    // hooks/kernel/<dir>.d/<name> -> /etc/kernel/<dir>.d/<name>; hooks/initramfs/… -> /etc/initramfs/…
    const places: [string, string][] = [
      ['kernel', '/etc/kernel'],
      ['initramfs', '/etc/initramfs'],
    ];
    for (const [from, to] of places) {
      const dir = path.join(hooks, from);
      if (!fs.existsSync(dir)) throw new Error(`missing ${dir}`);
      for (const sub of fs.readdirSync(dir)) {
        for (const name of fs.readdirSync(path.join(dir, sub))) {
          this.writeFile(`${to}/${sub}/${name}`, fs.readFileSync(path.join(dir, sub, name)), 0o755);
        }
      }
    }
    const defaults = path.join(REPO_ROOT, 'packaging/kbackup.default');
    if (fs.existsSync(defaults)) this.writeFile('/etc/default/kbackup', fs.readFileSync(defaults));
    fs.mkdirSync(this.host('/var/lib/kbackup'), { recursive: true });
    this.kbackupBuild = { kind: 'files' };
    return this.kbackupBuild;
  }
}

export interface CreateChrootOptions {
  /** Names the run directory (for a human looking at .cache/e2e/run). */
  label?: string;
  /** Install the archive kernel (default true). */
  kernel?: boolean;
  /** Install kbackup (default true). */
  kbackup?: boolean;
}

/** A fresh chroot from the cached tarballs, mounted, ready to run. Always dispose() it in afterAll. */
export async function createChroot(options: CreateChrootOptions = {}): Promise<Chroot> {
  const withKernel = options.kernel ?? true;
  const tarball = withKernel ? await kernelTarball() : await baseTarball();
  cleanLeftovers();
  const work = newRunDir(options.label ?? 'test');
  const root = path.join(work, 'root');
  const c = new Chroot(work, root, withKernel ? await kernelDebs('amd64') : undefined);
  liveChroots.add(work);
  try {
    await timed(`unpack ${path.basename(tarball)}`, () => unpackTree(tarball, root));
    await c.mount();
    if (options.kbackup ?? true) await timed('install kbackup', () => c.installKbackup());
  } catch (e) {
    await c.dispose();
    throw e;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Reading what GRUB and kbackup produce

export interface GrubEntry {
  title: string;
  linux: string;
  initrd: string[];
}

/** Menu entries of grub.cfg in file order (submenus flattened), with their linux and initrd paths. */
export function grubEntries(cfg: string): GrubEntry[] {
  const entries: GrubEntry[] = [];
  let current: GrubEntry | undefined;
  for (const line of cfg.split('\n')) {
    const title = /^\s*menuentry\s+'([^']*)'/.exec(line);
    if (title) {
      current = { title: title[1]!, linux: '', initrd: [] };
      entries.push(current);
      continue;
    }
    const linux = /^\s*linux\s+(\S+)/.exec(line);
    if (linux && current) current.linux = linux[1]!;
    const initrd = /^\s*initrd\s+(.+)$/.exec(line);
    if (initrd && current) current.initrd = initrd[1]!.trim().split(/\s+/);
  }
  return entries.filter((e) => e.linux !== '');
}

/** The kernel image paths in the order of grub.cfg's `linux` lines, each once (first appearance). */
export function grubLinuxPaths(cfg: string): string[] {
  return [...new Set(grubEntries(cfg).map((e) => e.linux))];
}

/** The spec's name of a backup of `stem` for `version`: kernel-V~~backupYYYYMMDDHHMM[.N] etc. */
export function backupNamePattern(stem: 'vmlinuz' | 'initrd.img' | 'config' | 'System.map', version: string): RegExp {
  const prefix = stem === 'vmlinuz' ? 'kernel' : stem;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc(prefix)}-${esc(version)}~~backup(\\d{12})(\\.[1-9]\\d*)?$`);
}

/** The backup suffixes (`~~backup…[.N]`) present in /boot for a version, from the kernel-… names. */
export function backupSuffixes(names: readonly string[], version: string): string[] {
  const re = backupNamePattern('vmlinuz', version);
  return names
    .filter((n) => re.test(n))
    .map((n) => n.slice(`kernel-${version}`.length))
    .sort();
}
