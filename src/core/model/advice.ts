// The commands kbackup tells an admin to run, in one place: each check code's next step names an
// exact command, and the installed initramfs generator's own command is chosen only here.

export const GENERATORS = ['initramfs-tools', 'dracut'] as const;
/** Which initramfs generator builds the initrds: advice names its command. */
export type Generator = (typeof GENERATORS)[number];

/** Builds a missing initrd for kernel `version`. */
export function createInitrdCommand(version: string, generator: Generator = 'initramfs-tools'): string {
  return generator === 'dracut' ? `dracut --kver ${version}` : `update-initramfs -c -k ${version}`;
}

/** Rebuilds the initrd of kernel `version` in place (of every kernel, when the version is unknown). */
export function rebuildInitrdCommand(version: string | undefined, generator: Generator = 'initramfs-tools'): string {
  if (generator === 'dracut') return version === undefined ? 'dracut -f --regenerate-all' : `dracut -f --kver ${version}`;
  return `update-initramfs -u -k ${version ?? 'all'}`;
}

/** Rebuilds modules.dep and the other module indexes of kernel `version`. */
export function depmodCommand(version: string | undefined): string {
  return version === undefined ? 'depmod -a' : `depmod ${version}`;
}

/** How to get drivers into every image the generator builds. */
export function addModulesAdvice(generator: Generator, modules: readonly string[]): string {
  const them = modules.length > 1 ? 'them' : 'it';
  return generator === 'dracut'
    ? `add ${them} to add_drivers+=" ${modules.join(' ')} " in a file in /etc/dracut.conf.d/`
    : `add ${them} to /etc/initramfs-tools/modules (or set MODULES=most in /etc/initramfs-tools/initramfs.conf)`;
}

/** Removes every backup set of a kernel version, without asking. */
export function pruneVersionCommand(version: string): string {
  return `kbackup prune --yes --keep 0 ${version}`;
}
