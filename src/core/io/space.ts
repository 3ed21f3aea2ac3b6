import * as fs from 'node:fs/promises';
import { ioError } from '../model/errors';

/** Bytes an unprivileged write could still use on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  return (await bootSpace(dir)).free;
}

/** Free bytes (as an unprivileged write sees them), the size and the block size of the filesystem holding `dir`. */
export async function bootSpace(dir: string): Promise<{ free: number; total: number; blockSize: number }> {
  try {
    const st = await fs.statfs(dir);
    return { free: st.bavail * st.bsize, total: st.blocks * st.bsize, blockSize: st.bsize };
  } catch (err) {
    throw ioError(`cannot read the free space of ${dir}`, err);
  }
}
