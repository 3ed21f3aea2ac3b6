// The commands kbackup tells an admin to run, in one place: each check code's next step names an
// exact command, and the initramfs generator (initramfs-tools here) is chosen only here.

/** Builds a missing initrd for kernel `version`. */
export function createInitrdCommand(version: string): string {
  return `update-initramfs -c -k ${version}`;
}

/** Rebuilds the initrd of kernel `version` in place. */
export function rebuildInitrdCommand(version: string | undefined): string {
  return `update-initramfs -u -k ${version ?? 'VERSION'}`;
}

/** Rebuilds modules.dep and the other module indexes of kernel `version`. */
export function depmodCommand(version: string | undefined): string {
  return `depmod ${version ?? 'VERSION'}`;
}

/** Removes every backup set of a kernel version, without asking. */
export function pruneVersionCommand(version: string): string {
  return `kbackup prune --yes --keep 0 ${version}`;
}
