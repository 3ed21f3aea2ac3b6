import * as fs from 'node:fs/promises';
import { ioError } from './errors';

/** Bytes an unprivileged write could still use on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  try {
    const st = await fs.statfs(dir);
    return st.bavail * st.bsize;
  } catch (err) {
    throw ioError(`cannot read free space of ${dir}`, err);
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
