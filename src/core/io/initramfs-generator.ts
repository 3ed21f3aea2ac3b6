// Which tool builds the initrds of a root: Debian's initramfs-tools (mkinitramfs) or dracut.
// The two conflict in Debian, so whichever is installed is the one in use.
import * as path from 'node:path';
import { exists } from './files';

export type InitramfsGenerator = 'initramfs-tools' | 'dracut';

export async function initramfsGenerator(root: string): Promise<InitramfsGenerator | undefined> {
  const has = (rel: string) => exists(path.join(root, rel));
  if ((await has('usr/sbin/mkinitramfs')) || (await has('sbin/mkinitramfs'))) return 'initramfs-tools';
  if ((await has('usr/bin/dracut')) || (await has('usr/sbin/dracut')) || (await has('sbin/dracut'))) return 'dracut';
  return undefined;
}
