// Reading what GRUB and kbackup produce: grub.cfg's menu entries, and the spec's backup names.

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
