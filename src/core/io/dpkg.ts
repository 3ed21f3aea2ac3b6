// What dpkg knows about the kernel packages under the root.
import * as path from 'node:path';
import type { World } from '../world';

/** The installed version of linux-image-VERSION, or undefined when dpkg does not know it. */
export async function installedPackageVersion(world: World, version: string): Promise<string | undefined> {
  const admindir = path.join(world.root, 'var/lib/dpkg');
  const r = await world.exec('dpkg-query', [`--admindir=${admindir}`, '-W', '-f=${Version}', `linux-image-${version}`], { timeoutMs: 10_000 });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}
