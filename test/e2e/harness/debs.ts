// .deb files the tests install: one file out of a package, re-packs under another Version (the
// same-name "security updates" the tests make of an archive kernel), and kbackup's own .deb.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEB_CACHE, debField, type Flavour, kernelDebs, type KernelSource } from './apt';
import { E2E_CACHE, hashOf, hostMustRun, REPO_ROOT } from './host';

/** Copies the file a .deb ships at `inside` to `dest` on the host. */
export async function extractFromDeb(deb: string, inside: string, dest: string): Promise<void> {
  fs.mkdirSync(E2E_CACHE, { recursive: true });
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

/** The n-th same-name "security update" of an archive kernel: Version +kbtestN, different bytes. */
export async function buildKernelUpdate(n: number, flavour: Flavour = 'amd64', source: KernelSource = {}): Promise<string> {
  const k = await kernelDebs(flavour, source);
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
