// Which grub.cfg entry boots a given kernel image, and the string GRUB's `default` takes to reach
// it. The ids are read from grub.cfg, never built: 10_linux puts the kernels of "Advanced options"
// in a submenu (`gnulinux-advanced-UUID>gnulinux-V-advanced-UUID`) unless GRUB_DISABLE_SUBMENU=y,
// and other generators name entries their own way.
import { grubPathBasename, type GrubMenu, type MenuEntry, type MenuNode } from './grub-cfg';

export interface EntryRef {
  /** What `set default=` needs to reach the entry: ids (or titles) of the submenus and the entry, joined by ">". */
  spec: string;
  entry: MenuEntry;
}

/** GRUB reads ">" in a default as the submenu separator; a literal ">" in an id is written ">>". */
function specPart(node: MenuNode): string {
  return (node.id ?? node.title).replace(/>/g, '>>');
}

/** Every entry with the spec that selects it, in menu order. */
export function menuEntries(menu: GrubMenu): EntryRef[] {
  const out: EntryRef[] = [];
  const walk = (nodes: readonly MenuNode[], prefix: string) => {
    for (const node of nodes) {
      const spec = prefix + specPart(node);
      if (node.kind === 'entry') out.push({ spec, entry: node });
      else walk(node.children, `${spec}>`);
    }
  };
  walk(menu.entries, '');
  return out;
}

/** 10_linux's recovery entries boot single-user: never a trial's or a fallback's target. */
export function isRecoveryEntry(entry: MenuEntry): boolean {
  return entry.linuxArgs.includes('single') || /-recovery-/.test(entry.id ?? '') || /\(recovery mode\)/.test(entry.title);
}

/**
 * The entry that boots `imageName` with `initrdName` (when given). Of several (the top-level
 * entry of the newest kernel and its "Advanced options" twin), the one whose id names the kernel's
 * version wins: it keeps meaning this kernel after the next update.
 */
export function findEntryFor(menu: GrubMenu, imageName: string, initrdName?: string | null): EntryRef | undefined {
  const candidates = menuEntries(menu).filter(
    ({ entry }) =>
      entry.linux !== undefined &&
      grubPathBasename(entry.linux) === imageName &&
      !isRecoveryEntry(entry) &&
      !entry.conditional &&
      (initrdName == null || entry.initrds.some((i) => grubPathBasename(i) === initrdName)),
  );
  const version = imageName.replace(/^[^-]*-/, '');
  return candidates.find(({ entry }) => (entry.id ?? '').includes(version)) ?? candidates[0];
}
