// One kbackup at a time per root: a manual `snapshot` while dpkg runs the hook must never corrupt
// or duplicate a set. Node has no flock(2), so the lock is a file holding its owner's pid, created
// complete and atomically: the content is written to a private temporary, which link(2) then gives
// the lock's name (link fails if the name exists). A lock whose pid is gone (a crash, kill -9) is
// taken over by renaming it aside first, so two runs cannot both remove it and both win. "Gone"
// means not a kbackup of this boot: the lock records the boot and the holder's start time.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errnoOf, ioError, RefusedError } from '../model/errors';

export interface LockInfo {
  pid: number;
  command: string;
  since: string;
  /** Unique per acquisition, so a release never removes someone else's lock. */
  token: string;
  /** /proc/sys/kernel/random/boot_id when it was taken: a lock from another boot is stale. */
  bootId?: string;
  /** The holder's start time (field 22 of /proc/PID/stat): a reused pid has another one. */
  startTime?: string;
}

export interface Lock {
  release(): Promise<void>;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

const readProc = (rel: string) => fs.readFile(path.join('/proc', rel), 'utf8').catch(() => undefined);

/** Field 22 of /proc/PID/stat (after the parenthesised command, which may hold spaces). */
async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readProc(`${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

async function thisBootId(): Promise<string | undefined> {
  return (await readProc('sys/kernel/random/boot_id'))?.trim();
}

/**
 * Whether the lock's holder is a kbackup running now: the pid exists, in this boot, with the start
 * time it had when it took the lock, and its command line names kbackup. A lock naming pid 1 after
 * a crash and a reboot, or a pid since reused by another program, is stale.
 */
async function holderAlive(holder: LockInfo): Promise<boolean> {
  if (!pidExists(holder.pid)) return false;
  if (holder.bootId !== undefined) {
    const boot = await thisBootId();
    if (boot !== undefined && boot !== holder.bootId) return false;
  }
  if (holder.startTime !== undefined) {
    const start = await startTimeOf(holder.pid);
    if (start !== undefined && start !== holder.startTime) return false;
  }
  // Another task of this very process (the in-process tests, or a second job of one run).
  if (holder.pid === process.pid) return true;
  const cmdline = await readProc(`${holder.pid}/cmdline`);
  return cmdline === undefined || /kbackup/.test(cmdline);
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

/** An unreadable lock older than this is taken over. */
const STALE_UNREADABLE_MS = 30_000;

/** Moves a dead holder's lock aside, and puts it back if it turned out to be a live one. */
async function takeOverStale(file: string): Promise<void> {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(file, aside);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  const moved = await readLock(aside);
  if (moved && (await holderAlive(moved))) {
    // Between our look and the rename a live run took the lock: give it back.
    await fs.link(aside, file).catch(() => undefined);
  }
  await fs.rm(aside, { force: true });
}

export async function acquireLock(
  file: string,
  command: string,
  options: { waitMs: number; now: () => Date; onStale?: (holder: LockInfo) => void },
): Promise<Lock> {
  const { now } = options;
  const deadline = now().getTime() + options.waitMs;
  const dir = path.dirname(file);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw ioError(`cannot create ${dir}`, err);
  }
  const mine: LockInfo = { pid: process.pid, command, since: now().toISOString(), token: randomBytes(8).toString('hex') };
  const [bootId, startTime] = await Promise.all([thisBootId(), startTimeOf(process.pid)]);
  if (bootId !== undefined) mine.bootId = bootId;
  if (startTime !== undefined) mine.startTime = startTime;
  const tmp = path.join(dir, `.kbackup-tmp-lock.${process.pid}.${mine.token}`);
  try {
    await fs.writeFile(tmp, `${JSON.stringify(mine)}\n`, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    throw ioError(`cannot create lock ${file}`, err);
  }
  try {
    for (;;) {
      try {
        await fs.link(tmp, file);
        return {
          release: async () => {
            const held = await readLock(file);
            if (held?.token === mine.token) await fs.rm(file, { force: true });
          },
        };
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw ioError(`cannot create lock ${file}`, err);
      }
      const holder = await readLock(file);
      if (holder && !(await holderAlive(holder))) {
        options.onStale?.(holder);
        await takeOverStale(file);
        continue;
      }
      if (!holder) {
        // kbackup writes its locks complete, so an unreadable one is a crash's leftover (a lock
        // file whose data never reached the disk) once it is older than any run takes to start.
        const age = await fs.stat(file).then((st) => now().getTime() - st.mtimeMs, () => 0);
        if (age > STALE_UNREADABLE_MS) {
          await takeOverStale(file);
          continue;
        }
        if (now().getTime() >= deadline) throw new RefusedError(`${file} exists but is not a kbackup lock; remove it if no kbackup is running`);
      } else if (now().getTime() >= deadline) {
        throw new RefusedError(
          `another kbackup (pid ${holder.pid}, "${holder.command}", since ${holder.since}) holds ${file}; try again when it has finished`,
        );
      }
      await sleep(100);
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
