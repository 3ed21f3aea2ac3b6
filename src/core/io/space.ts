import * as fs from 'node:fs/promises';
import { ioError } from '../model/errors';

/** Bytes an unprivileged write could still use on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  try {
    const st = await fs.statfs(dir);
    return st.bavail * st.bsize;
  } catch (err) {
    throw ioError(`cannot read free space of ${dir}`, err);
  }
}
