// Where kbackup's files are under a root.
import * as path from 'node:path';

export interface Paths {
  root: string;
  boot: string;
  state: string;
  manifest: string;
  /** Boot records (model/boots.ts). */
  boots: string;
  /** The armed or failed trial (model/trial.ts). */
  trial: string;
  lock: string;
  grubDir: string;
  grubD: string;
  grubenv: string;
}

export function pathsFor(root: string): Paths {
  const boot = path.join(root, 'boot');
  const state = path.join(root, 'var/lib/kbackup');
  return {
    root,
    boot,
    state,
    manifest: path.join(state, 'manifest.json'),
    boots: path.join(state, 'boots.json'),
    trial: path.join(state, 'trial.json'),
    lock: path.join(state, 'lock'),
    grubDir: path.join(boot, 'grub'),
    grubD: path.join(root, 'etc/grub.d'),
    grubenv: path.join(boot, 'grub/grubenv'),
  };
}
