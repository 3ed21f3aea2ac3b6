// Small file reads every layer above needs, each in one place.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { errnoOf } from '../model/errors';

/** Large reads into one reused buffer: a stream's smaller chunks and fresh buffers cost a tenth more here. */
const HASH_CHUNK_BYTES = 4 * 1024 * 1024;

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

/** Whether anything (a file, a directory, a dangling link) has this name. */
export async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

/** The file name a symbolic link points at (its last component), or undefined when `file` is no link. */
export async function linkTargetName(file: string): Promise<string | undefined> {
  const target = await fs.readlink(file).catch(() => undefined);
  return target === undefined ? undefined : target.slice(target.lastIndexOf('/') + 1);
}

export async function isDirectory(dir: string): Promise<boolean> {
  return fs.stat(dir).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/** A text file's content, or undefined when it (or a directory above it) does not exist. */
export async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}
