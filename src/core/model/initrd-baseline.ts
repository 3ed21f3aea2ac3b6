// Which previous initrd a live one is judged against, and what to tell the admin to run. Pure.
//
// A same-name update leaves a backup of the same version (preinst made it): that is the best
// baseline, the same kernel's image from before. A new-ABI update (Debian's security updates since
// September 2025: linux-image-6.1.0-50-amd64 → 6.1.0-57-amd64) installs a package beside the old one,
// so there is no backup of the new version; then, in this order: the initrd of the last boot that
// succeeded (boot records), the running kernel's (not under --root: that kernel runs elsewhere), and
// the previous default, i.e. the next live kernel of the same flavour below it in GRUB's menu.
// Module counts of two ABIs of one flavour differ by a few percent, so the thresholds in
// initrd-health.ts hold across versions; module names, not paths, are compared.

export const BASELINE_ROLES = ['backup', 'known-good', 'running', 'previous-default', 'older'] as const;
export type BaselineRole = (typeof BASELINE_ROLES)[number];

export interface Baseline {
  role: BaselineRole;
  version: string;
  /** Host path of the image. */
  path: string;
  /** The backup set's ID when the image belongs to one. */
  setId?: string;
}

export interface BaselineCandidates {
  /** The live initrd's kernel version. */
  version: string;
  /** Host path of the live initrd. */
  livePath: string;
  /** The newest backup initrd of the same version. */
  newestBackup?: { id: string; path: string };
  /** The initrd of the newest boot record, when one exists and its file is still there. */
  knownGood?: { version: string; path: string; setId?: string | null };
  /** `uname -r`, only when kbackup runs on the system it checks (not under --root). */
  running?: string;
  /** Live kernels with both an image and an initrd, in GRUB's predicted order (default first). */
  liveVersions: readonly string[];
  /** Host path of a live version's initrd. */
  initrdOf(version: string): string;
}

/**
 * The kernel flavour of a Debian kernel version: what follows the ABI (`6.1.0-57-amd64` → `amd64`,
 * `6.12.48+deb13-cloud-amd64` → `cloud-amd64`); undefined for a version without one (self-built).
 */
export function kernelFlavour(version: string): string | undefined {
  const parts = version.split('-');
  const first = parts.findIndex((p, i) => i > 0 && /^[a-z]/i.test(p));
  return first > 0 ? parts.slice(first).join('-') : undefined;
}

export function chooseBaseline(c: BaselineCandidates): Baseline | undefined {
  if (c.newestBackup) return { role: 'backup', version: c.version, path: c.newestBackup.path, setId: c.newestBackup.id };
  const kg = c.knownGood;
  if (kg && kg.path !== c.livePath) {
    return { role: 'known-good', version: kg.version, path: kg.path, ...(kg.setId ? { setId: kg.setId } : {}) };
  }
  if (c.running !== undefined && c.running !== c.version && c.liveVersions.includes(c.running)) {
    return { role: 'running', version: c.running, path: c.initrdOf(c.running) };
  }
  const flavour = kernelFlavour(c.version);
  const at = c.liveVersions.indexOf(c.version);
  // Below the live kernel in the menu only: an older kernel is judged against an even older one, never a newer.
  const next = c.liveVersions.slice(at + 1).find((v) => v !== c.version && kernelFlavour(v) === flavour);
  if (next === undefined) return undefined;
  return { role: at === 0 ? 'previous-default' : 'older', version: next, path: c.initrdOf(next) };
}

/** How a baseline is named after its file name in messages: `initrd.img-6.1.0-50-amd64 (the previous default)`. */
export function describeBaselineRole(role: BaselineRole): string {
  switch (role) {
    case 'backup':
      return 'its newest backup';
    case 'known-good':
      return 'the last one that booted';
    case 'running':
      return "the running kernel's";
    case 'previous-default':
      return 'the previous default';
    case 'older':
      return 'the next older kernel';
  }
}
