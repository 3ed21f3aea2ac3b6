// Runs the root's update-grub (in a chroot under --root).
import * as path from 'node:path';
import { exists } from './files';
import type { ExecResult, World } from '../world';

/** undefined when update-grub is not installed under the root. */
export async function runUpdateGrub(world: World): Promise<ExecResult | undefined> {
  if (!(await exists(path.join(world.root, 'usr/sbin/update-grub')))) return undefined;
  const onRealRoot = path.resolve(world.root) === '/';
  return onRealRoot ? world.exec('/usr/sbin/update-grub', []) : world.exec('chroot', [world.root, '/usr/sbin/update-grub']);
}
