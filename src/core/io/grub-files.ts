// Reads what GRUB reads: /boot's names, /etc/grub.d/10_linux and grub-mkconfig_lib, grub.cfg and
// grubenv, and the kernel links linux-base keeps. The GRUB model (model/grub/) decides from them.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { KERNEL_LINKS, type CheckFacts, type LinkFact } from '../model/check';
import { parseGrubCfg, resolveDefaultEntry, type MenuNode } from '../model/grub/grub-cfg';
import { detectFlavour, grubMenuOrder, type BootEntry, type GrubFlavour, type GrubKernel } from '../model/grub/menu-order';
import { readText } from './files';
import type { Paths } from './paths';

async function listEntries(dir: string): Promise<BootEntry[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  return Promise.all(
    names.map(async (name) => ({
      name,
      isFile: await fs.stat(path.join(dir, name)).then(
        (st) => st.isFile(),
        () => false,
      ),
    })),
  );
}

export async function readLinks(root: string): Promise<LinkFact[]> {
  const facts: LinkFact[] = [];
  for (const dir of ['/', '/boot']) {
    for (const name of KERNEL_LINKS) {
      const inRoot = path.posix.join(dir, name);
      const full = path.join(root, inRoot);
      let target: string;
      try {
        target = await fs.readlink(full);
      } catch {
        continue;
      }
      const resolved = path.posix.resolve(dir, target);
      const exists = await fs.stat(path.join(root, resolved)).then(
        () => true,
        () => false,
      );
      facts.push({ path: inRoot, target, resolved, exists });
    }
  }
  return facts;
}

/** What update-grub would list now, as the installed 10_linux orders it (Debian 12's if none). */
export async function readGrubScripts(paths: Pick<Paths, 'root' | 'boot'>): Promise<{ flavour?: GrubFlavour; found: boolean; predicted: GrubKernel[] }> {
  const root = paths.root;
  const [tenLinux, mkconfigLib] = await Promise.all([
    readText(path.join(root, 'etc/grub.d/10_linux')),
    readText(path.join(root, 'usr/share/grub/grub-mkconfig_lib')),
  ]);
  const flavour = tenLinux ? detectFlavour(tenLinux, mkconfigLib) : undefined;
  const rootEntries = (await listEntries(root)).filter((e) => /^(vmlinu[xz]|kernel|initrd)/.test(e.name));
  const bootEntries = await listEntries(paths.boot);
  // Without GRUB's scripts, or with ones not recognised, predict as Debian 12's would.
  return { flavour, found: tenLinux !== undefined, predicted: grubMenuOrder(bootEntries, flavour ?? 'dpkg', { rootEntries }) };
}

/** grub.cfg's kernels and its default entry (with grubenv), or undefined without a grub.cfg. */
export async function readGrubCfg(paths: Pick<Paths, 'grubDir'>): Promise<CheckFacts['grubCfg']> {
  const cfgText = await readText(path.join(paths.grubDir, 'grub.cfg'));
  if (cfgText === undefined) return undefined;
  const menu = parseGrubCfg(cfgText);
  const grubenv = await readText(path.join(paths.grubDir, 'grubenv'));
  const def = resolveDefaultEntry(menu, grubenv);
  const linuxPaths: string[] = [];
  const walk = (nodes: readonly MenuNode[]) => {
    for (const n of nodes) {
      if (n.kind === 'entry') {
        if (n.linux) linuxPaths.push(n.linux);
      } else walk(n.children);
    }
  };
  walk(menu.entries);
  const grubCfg: NonNullable<CheckFacts['grubCfg']> = { linuxPaths, defaultHow: def.how };
  if (def.entry?.linux) grubCfg.defaultLinux = def.entry.linux;
  if (def.problem) grubCfg.defaultProblem = def.problem;
  return grubCfg;
}
