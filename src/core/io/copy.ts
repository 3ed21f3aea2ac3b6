// The copy engine: every byte kbackup puts in /boot goes through here.
//
// Crash safety: data is written under a hidden temporary name that neither GRUB (10_linux globs
// vmlinuz-*, kernel-*, initrd.img-*) nor linux-base (vmlinu[xz]-*) ever matches, fsynced, then
// linked to its final name (link(2) fails on an existing name, so a backup is never overwritten),
// and the directory is fsynced. A crash leaves at most a `.kbackup-tmp-*` file, which the next run
// removes.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errnoOf, IoError, ioError, RefusedError } from '../model/errors';
import { TEMP_PREFIX } from '../model/names';
import { sha256File } from './files';

export interface CopyResult {
  size: number;
  sha256: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

function tempNameFor(finalName: string): string {
  return `${TEMP_PREFIX}${finalName.replace(/[^A-Za-z0-9._-]/g, '_')}.${process.pid}.${randomBytes(4).toString('hex')}`;
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Links `tmp` to `final` without ever replacing an existing `final`. Filesystems without hard
 * links (vfat) fall back to rename after a check; callers hold kbackup's lock, so that check
 * cannot race another kbackup.
 */
async function publishNoReplace(tmp: string, final: string): Promise<void> {
  try {
    await fs.link(tmp, final);
    await fs.unlink(tmp);
    return;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EEXIST') throw new RefusedError(`${final} already exists; kbackup never overwrites a backup`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
  }
  try {
    await fs.lstat(final);
    throw new RefusedError(`${final} already exists; kbackup never overwrites a backup`);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  await fs.rename(tmp, final);
}

export interface CopyOptions {
  /** Replace `dest` atomically if it exists (restore onto live names); default: never replace. */
  replace?: boolean;
}

export interface StagedCopy {
  /** The hidden temporary holding the data, fsynced, with the source's mode, owner and mtime. */
  tmp: string;
  dest: string;
  result: CopyResult;
}

/**
 * Gives `dest` the access and modification times of `src` to the nanosecond, as `cp -p` does.
 * Node's utimes takes seconds as a double, which cannot hold nanoseconds (measured: .123456789 s
 * comes back as .122999000), so touch(1) -r, which calls utimensat(2) with the source's own
 * timespec, does it. Without touch the millisecond times already set by utimes stay.
 */
async function copyTimesExactly(src: string, dest: string): Promise<void> {
  await new Promise<void>((resolve) => {
    execFile('touch', ['-r', src, '--', dest], { timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } }, () => resolve());
  });
}

/**
 * Copies `src` into a hidden temporary beside `dest` and fsyncs it, keeping mode, owner and mtime,
 * and returns the sha256 of what was copied. The kernel copies the data (copy_file_range or a
 * reflink, through fs.copyFile on the thread pool) and flushes it while this thread hashes the
 * source, so a 256 MiB initrd costs max(copy + flush, hash) rather than their sum.
 */
export async function stageCopy(src: string, dest: string): Promise<StagedCopy> {
  const dir = path.dirname(dest);
  const tmp = path.join(dir, tempNameFor(path.basename(dest)));
  let before;
  let beforeNs: bigint;
  try {
    before = await fs.stat(src);
    beforeNs = (await fs.stat(src, { bigint: true })).mtimeNs;
  } catch (err) {
    throw ioError(`cannot read ${src}`, err);
  }
  const copyAndFlush = async () => {
    await fs.copyFile(src, tmp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    const handle = await fs.open(tmp, 'r+');
    try {
      const st = await handle.stat();
      if (st.size !== before.size) throw ioError(`copying ${src}`, new Error(`short copy: ${st.size} of ${before.size} bytes`));
      if (st.uid !== before.uid || st.gid !== before.gid) await handle.chown(before.uid, before.gid);
      await handle.chmod(before.mode & 0o7777);
      await handle.utimes(before.atime, before.mtime);
      await copyTimesExactly(src, tmp);
      await handle.sync();
    } finally {
      await handle.close();
    }
  };
  try {
    const [, sha256] = await Promise.all([copyAndFlush(), sha256File(src)]);
    const after = await fs.stat(src, { bigint: true });
    if (after.size !== BigInt(before.size) || after.mtimeNs !== beforeNs || after.ino !== BigInt(before.ino)) {
      throw new RefusedError(`${src} changed while it was being copied; try again`);
    }
    return { tmp, dest, result: { size: before.size, sha256, mode: before.mode & 0o7777, uid: before.uid, gid: before.gid, mtimeMs: before.mtimeMs } };
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw copyError(err, src, dest);
  }
}

function copyError(err: unknown, src: string, dest: string): Error {
  if (err instanceof RefusedError || err instanceof IoError) return err;
  if (errnoOf(err) === 'ENOSPC') return ioError(`no space left on the device of ${path.dirname(dest)} while copying ${src}`, err);
  return ioError(`cannot copy ${src} to ${dest}`, err);
}

/** Gives a staged copy its final name (never replacing a backup unless `replace`). No directory fsync. */
export async function publishStaged(staged: StagedCopy, options: CopyOptions = {}): Promise<void> {
  try {
    if (options.replace) await fs.rename(staged.tmp, staged.dest);
    else await publishNoReplace(staged.tmp, staged.dest);
  } catch (err) {
    throw copyError(err, staged.tmp, staged.dest);
  }
}

export async function discardStaged(staged: StagedCopy): Promise<void> {
  await fs.rm(staged.tmp, { force: true }).catch(() => undefined);
}

/** One file, start to finish: stage, publish, fsync the directory. */
export async function copyDurably(src: string, dest: string, options: CopyOptions = {}): Promise<CopyResult> {
  const staged = await stageCopy(src, dest);
  try {
    await publishStaged(staged, options);
  } catch (err) {
    await discardStaged(staged);
    throw err;
  }
  await fsyncDir(path.dirname(dest));
  return staged.result;
}

/**
 * Replaces `dest` with a whole new small file: written under a temporary name beside it, then renamed
 * over it, so a reader sees the old file or the new one, never half of one. `durable` also fsyncs
 * the file and the directory (the manifest, boots.json, grubenv); a cache or a marker that only
 * matters while this boot lasts goes without.
 */
export async function replaceFile(dest: string, data: string, mode: number, options: { durable: boolean }): Promise<void> {
  const dir = path.dirname(dest);
  const tmp = path.join(dir, tempNameFor(path.basename(dest)));
  try {
    const handle = await fs.open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      if (options.durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, dest);
    if (options.durable) await fsyncDir(dir);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(`cannot write ${dest}`, err);
  }
}

/** Writes a small file (the manifest) atomically and durably. */
export function writeFileDurably(dest: string, data: string, mode: number): Promise<void> {
  return replaceFile(dest, data, mode, { durable: true });
}

/** Renames without replacing (adopt); same crash rules as copies. */
export async function renameNoReplace(from: string, to: string): Promise<void> {
  try {
    await publishNoReplace(from, to);
    await fsyncDir(path.dirname(to));
  } catch (err) {
    if (err instanceof RefusedError) throw err;
    throw ioError(`cannot rename ${from} to ${to}`, err);
  }
}
