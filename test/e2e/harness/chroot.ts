// One Debian chroot: mounts, running commands inside with a clean environment, files, dpkg, the
// kernel updates the tests make, update-grub and installing kbackup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { debField, kernelDebs, type KernelDebs, type Pocket, type Suite } from './apt';
import { buildKernelUpdate, findKbackupDeb, type KbackupBuild } from './debs';
import { hostMustRun, hostRun, log, REPO_ROOT, removeTree, type RunOptions, type RunResult, sha256File, tail, trackLiveDir, unmountAllUnder, untrackLiveDir } from './host';

const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The initrd generator a chroot has: Debian's default, or dracut (Debian 13's alternative; they conflict). */
export type InitramfsGenerator = 'initramfs-tools' | 'dracut';

export interface FileInfo {
  sha256: string;
  size: number;
  mode: number;
  mtimeMs: number;
}

export class Chroot {
  /** Host path of the chroot's root directory. */
  readonly root: string;
  /** The directory holding the root (deleted by dispose). */
  readonly work: string;
  readonly suite: Suite;
  readonly initramfs: InitramfsGenerator;
  private readonly kernelDebs: KernelDebs | undefined;
  private updates = 0;
  private mounted = false;
  kbackupBuild: KbackupBuild | undefined;

  constructor(work: string, root: string, kernel: KernelDebs | undefined, suite: Suite = 'bookworm', initramfs: InitramfsGenerator = 'initramfs-tools') {
    this.work = work;
    this.root = root;
    this.kernelDebs = kernel;
    this.suite = suite;
    this.initramfs = initramfs;
  }

  /** The archive kernel the chroot was made with. */
  get kernel(): KernelDebs {
    if (!this.kernelDebs) throw new Error('this chroot has no kernel');
    return this.kernelDebs;
  }

  host(inside: string): string {
    return path.join(this.root, inside);
  }

  async mount(): Promise<void> {
    trackLiveDir(this.work);
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
      untrackLiveDir(this.work);
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

  /** The archive kernel of this chroot's suite from a pocket (`security`: the new-ABI update). */
  archiveKernel(pocket: Pocket, flavour: KernelDebs['flavour'] = 'amd64'): Promise<KernelDebs> {
    return kernelDebs(flavour, { suite: this.suite, pocket });
  }

  /** Installs an archive kernel's image and meta package with dpkg -i (a new ABI lands beside the old). */
  async installKernel(k: KernelDebs, options: RunOptions = {}): Promise<RunResult> {
    const t0 = Date.now();
    const r = await this.installDeb([k.imageDeb, k.metaDeb], options);
    log(`install ${k.imagePackage} ${k.packageVersion} (dpkg -i): ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.code}`);
    return r;
  }

  /**
   * Builds and installs the next same-name update of the chroot's archive kernel (the case of a
   * reinstall or a self-built kernel: same package name, files overwritten in place). Returns dpkg's result.
   */
  async kernelUpdate(options: RunOptions = {}): Promise<RunResult & { deb: string; packageVersion: string }> {
    const n = ++this.updates;
    const deb = await buildKernelUpdate(n, this.kernel.flavour, { suite: this.kernel.suite, pocket: this.kernel.pocket });
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
