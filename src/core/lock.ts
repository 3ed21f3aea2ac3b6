// One kbackup at a time per root: a manual `snapshot` while dpkg runs the hook must never corrupt
// or duplicate a set. Node has no flock(2), so the lock is a file created with O_EXCL holding the
// owner's pid; a lock whose pid is gone (a crash, kill -9) is taken over.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errnoOf, ioError, RefusedError } from './errors';

export interface LockInfo {
  pid: number;
  command: string;
  since: string;
}

export interface Lock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as LockInfo;
    return typeof parsed.pid === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquireLock(
  file: string,
  command: string,
  options: { waitMs: number; now?: () => Date } = { waitMs: 10_000 },
): Promise<Lock> {
  const now = options.now ?? (() => new Date());
  const deadline = Date.now() + options.waitMs;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw ioError(`cannot create ${path.dirname(file)}`, err);
  }
  const mine: LockInfo = { pid: process.pid, command, since: now().toISOString() };
  for (;;) {
    try {
      const handle = await fs.open(file, 'wx', 0o644);
      try {
        await handle.writeFile(`${JSON.stringify(mine)}\n`);
      } finally {
        await handle.close();
      }
      return {
        release: async () => {
          const held = await readLock(file);
          if (held && held.pid === mine.pid && held.since === mine.since) await fs.rm(file, { force: true });
        },
      };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw ioError(`cannot create lock ${file}`, err);
    }
    const holder = await readLock(file);
    if (!holder || !alive(holder.pid)) {
      // A stale lock (or one half-written by a crash): take it over only if it is still the same file.
      const again = await readLock(file);
      if (JSON.stringify(again) === JSON.stringify(holder)) await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new RefusedError(
        `another kbackup (pid ${holder.pid}, "${holder.command}", since ${holder.since}) holds ${file}; try again when it has finished`,
      );
    }
    await sleep(100);
  }
}
