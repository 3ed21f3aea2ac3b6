// The cached trees chroots are made from, and createChroot.
//
// Under .cache/e2e (git-ignored; shared by concurrent runs, creation is locked):
//   base-<hash>.tar.zst    debootstrap minbase of a suite + the packages a kernel update on a
//                          GRUB/BIOS Debian system runs, apt sources, /etc/default/grub, the
//                          grub-probe stand-in and a first grub.cfg; keyed by recipe, suite, mirror,
//                          package list and the stand-in
//   kernel-<hash>.tar.zst  that plus an archive kernel installed (no kbackup); keyed by the base and the .debs
// A first run needs the mirror (debootstrap takes about 5 minutes a suite); later runs unpack a
// tarball in seconds. dpkg runs with force-unsafe-io in the chroots: its fsyncs only guard a
// throw-away tree against power loss; kbackup's own fsyncs are untouched.
//
// The chroot has no disk of its own: /usr/sbin/grub-probe is diverted (dpkg-divert --local
// --rename) and replaced by fixtures/grub-probe, which answers for an ext2 /dev/sda1 holding / and
// /boot, so grub-mkconfig and /etc/grub.d/10_linux run unmodified and grub.cfg has /boot/… paths.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chrootSources, findMirror, type Flavour, kernelDebs, type Mirror, type Pocket, type Suite } from './apt';
import { Chroot, type InitramfsGenerator } from './chroot';
import { cleanLeftovers, E2E_CACHE, FIXTURES, hashOf, hostMustRun, newRunDir, packTree, removeTree, timed, trackLiveDir, unpackTree, withLock } from './host';

/** Packages on top of minbase: what a kernel update on a GRUB/BIOS Debian system runs. */
export const BASE_PACKAGES = ['initramfs-tools', 'kmod', 'linux-base', 'grub-common', 'grub2-common', 'grub-pc-bin', 'zstd', 'busybox', 'cpio'] as const;

/** The packages of a base tree: dracut takes initramfs-tools' place (they conflict). */
export function basePackages(initramfs: InitramfsGenerator = 'initramfs-tools'): string[] {
  return initramfs === 'dracut' ? BASE_PACKAGES.map((p) => (p === 'initramfs-tools' ? 'dracut' : p)) : [...BASE_PACKAGES];
}

/** Bump when the chroot recipe below changes, so old tarballs are not reused. */
const RECIPE = 'kbackup-e2e-1';

function baseKey(suite: Suite, initramfs: InitramfsGenerator, mirror: Mirror): string {
  const probe = fs.readFileSync(path.join(FIXTURES, 'grub-probe'), 'utf8');
  const parts = [RECIPE, suite, mirror.debian, mirror.security, ...basePackages(initramfs), probe];
  return hashOf(parts);
}

/** The base tarball of a suite (with initramfs-tools, or dracut). */
export async function baseTarball(suite: Suite = 'bookworm', initramfs: InitramfsGenerator = 'initramfs-tools'): Promise<string> {
  const mirror = findMirror();
  const tarball = path.join(E2E_CACHE, `base-${baseKey(suite, initramfs, mirror)}.tar.zst`);
  if (fs.existsSync(tarball)) return tarball;
  return withLock(`base-${suite}-${initramfs}`, async () => {
    if (fs.existsSync(tarball)) return tarball;
    cleanLeftovers();
    const work = newRunDir(`debootstrap-${suite}`);
    const root = path.join(work, 'root');
    try {
      await timed(`debootstrap ${suite} (${initramfs})`, () =>
        hostMustRun('nice', ['-n', '10', 'debootstrap', '--variant=minbase', `--include=${basePackages(initramfs).join(',')}`, suite, root, mirror.debian], {
          timeoutMs: 1_500_000,
        }),
      );
      const c = new Chroot(work, root, undefined, suite, initramfs);
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
  c.writeFile('/etc/apt/sources.list', `${chrootSources(c.suite, mirror).join('\n')}\n`);
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

export interface KernelChoice {
  flavour?: Flavour;
  /** Default `release`: the suite's point release, so that `security` is the new-ABI update. */
  pocket?: Pocket;
}

/** The kernel tarball: a base plus an archive kernel installed (no kbackup). */
export async function kernelTarball(
  suite: Suite = 'bookworm',
  initramfs: InitramfsGenerator = 'initramfs-tools',
  choice: KernelChoice = {},
): Promise<string> {
  const base = await baseTarball(suite, initramfs);
  const k = await kernelDebs(choice.flavour ?? 'amd64', { suite, pocket: choice.pocket ?? 'release' });
  const tarball = path.join(E2E_CACHE, `kernel-${hashOf([path.basename(base), path.basename(k.imageDeb), path.basename(k.metaDeb)])}.tar.zst`);
  if (fs.existsSync(tarball)) return tarball;
  return withLock(`kernel-${path.basename(tarball)}`, async () => {
    if (fs.existsSync(tarball)) return tarball;
    cleanLeftovers();
    const work = newRunDir(`kernel-layer-${suite}`);
    const root = path.join(work, 'root');
    try {
      await timed('unpack base', () => unpackTree(base, root));
      const c = new Chroot(work, root, k, suite, initramfs);
      await c.mount();
      try {
        const r = await timed(`install ${k.imagePackage} ${k.packageVersion}`, () => c.installKernel(k));
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

export interface CreateChrootOptions {
  /** Debian release (default bookworm). */
  suite?: Suite;
  /** Names the run directory (for a human looking at .cache/e2e/run). */
  label?: string;
  /** Install an archive kernel (default true: the suite's point-release linux-image-amd64). */
  kernel?: boolean | KernelChoice;
  /** The initrd generator (default initramfs-tools; dracut replaces it). */
  initramfs?: InitramfsGenerator;
  /** Install kbackup (default true). */
  kbackup?: boolean;
}

/** A fresh chroot from the cached tarballs, mounted, ready to run. Always dispose() it in afterAll. */
export async function createChroot(options: CreateChrootOptions = {}): Promise<Chroot> {
  const suite = options.suite ?? 'bookworm';
  const initramfs = options.initramfs ?? 'initramfs-tools';
  const choice = options.kernel === false ? undefined : options.kernel === true || options.kernel === undefined ? {} : options.kernel;
  const tarball = choice ? await kernelTarball(suite, initramfs, choice) : await baseTarball(suite, initramfs);
  const k = choice ? await kernelDebs(choice.flavour ?? 'amd64', { suite, pocket: choice.pocket ?? 'release' }) : undefined;
  cleanLeftovers();
  const work = newRunDir(options.label ?? 'test');
  const root = path.join(work, 'root');
  const c = new Chroot(work, root, k, suite, initramfs);
  trackLiveDir(work);
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
