// Carries plans out. The safety checks live here, where deleting happens (as in sindresorhus/del):
// whatever a planner or a caller asks, only backup names directly inside the boot directory are
// ever deleted, and the live kernel files are only ever replaced by restore.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { copyDurably, discardStaged, fsyncDir, publishStaged, renameNoReplace, stageCopy } from './copy';
import { errnoOf, InternalError, ioError } from '../model/errors';
import type { ManifestFile, ManifestSet, Origin } from '../model/manifest';
import { isBackupFileName, liveFileName, TEMP_PREFIX } from '../model/names';
import type { AdoptStep, BackupPlan, CopyStep, DeleteSet, RestorePlan } from '../model/plan';

export interface ApplyEvents {
  copied?(step: CopyStep): void;
  deleted?(name: string): void;
}

/** Refuses any name that is not a backup file name directly inside the boot directory. */
export function assertDeletable(bootDir: string, name: string, stems: readonly string[]): string {
  if (name.includes('/') || name === '' || name === '.' || name === '..' || !isBackupFileName(name, stems)) {
    throw new InternalError(`refusing to delete ${JSON.stringify(name)}: only kbackup backup files in ${bootDir} are ever deleted`);
  }
  return path.join(bootDir, name);
}

export async function applyDeletes(bootDir: string, deletes: readonly DeleteSet[], stems: readonly string[], events: ApplyEvents = {}): Promise<void> {
  // Check every name before deleting any, so a bad plan deletes nothing at all.
  const targets = deletes.map((d) => d.names.map((n) => assertDeletable(bootDir, n, stems)));
  for (const files of targets) {
    for (const file of files) {
      try {
        await fs.unlink(file);
        events.deleted?.(path.basename(file));
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw ioError(`cannot remove ${file}`, err);
      }
    }
  }
  if (deletes.length > 0) await fsyncDir(bootDir);
}

/** Removes `.kbackup-tmp-*` files left by an interrupted run (callers hold the lock). */
export async function removeTemps(dir: string, names: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(TEMP_PREFIX) || name.includes('/')) continue;
    await fs.rm(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Copies a backup plan's files: all of them are staged (copied, flushed, hashed) under hidden
 * temporary names at once, then published in the plan's order (initrd first, kernel image last),
 * then the directory is fsynced. If anything fails, the temporaries and the files of the set
 * already published are removed again, so no partial set (an initrd without its kernel) is left
 * under a final name.
 */
export async function applyBackupCopies(
  bootDir: string,
  plan: BackupPlan,
  meta: { origin: Origin; created: Date; packageVersion?: string },
  stems: readonly string[],
  events: ApplyEvents = {},
): Promise<ManifestSet> {
  if (!plan.id) throw new InternalError('applyBackupCopies called for a plan that copies nothing');
  const staging = plan.copies.map((step) => stageCopy(path.join(bootDir, step.from), path.join(bootDir, step.to)));
  const settled = await Promise.allSettled(staging);
  const staged = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const published: string[] = [];
  try {
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    for (const [i, step] of plan.copies.entries()) {
      await publishStaged(staged[i]!);
      published.push(step.to);
      events.copied?.(step);
    }
    await fsyncDir(bootDir);
  } catch (err) {
    for (const s of staged) await discardStaged(s);
    for (const name of published.reverse()) {
      await fs.unlink(assertDeletable(bootDir, name, stems)).catch(() => undefined);
    }
    await fsyncDir(bootDir).catch(() => undefined);
    throw err;
  }
  const files: ManifestFile[] = plan.copies.map((step, i) => {
    const result = staged[i]!.result;
    return {
      stem: step.stem,
      name: step.to,
      size: result.size,
      mode: result.mode,
      uid: result.uid,
      gid: result.gid,
      mtime: new Date(result.mtimeMs).toISOString(),
      sha256: result.sha256,
    };
  });
  const set: ManifestSet = { id: plan.id, version: plan.version, created: meta.created.toISOString(), origin: meta.origin, files };
  if (meta.packageVersion) set.packageVersion = meta.packageVersion;
  return set;
}

/** Puts a set back under the live names: each file is copied to a temporary and renamed over. */
export async function applyRestore(bootDir: string, plan: RestorePlan, events: ApplyEvents = {}): Promise<void> {
  for (const step of plan.copies) {
    if (step.to !== liveFileName(step.stem, plan.set.version)) throw new InternalError(`restore target ${step.to} is not a live name`);
    await copyDurably(path.join(bootDir, step.from), path.join(bootDir, step.to), { replace: true });
    events.copied?.(step);
  }
}

export async function applyAdopt(bootDir: string, renames: readonly AdoptStep[], stems: readonly string[]): Promise<void> {
  for (const step of renames) {
    assertDeletable(bootDir, step.from, stems);
    if (!isBackupFileName(step.to, stems)) throw new InternalError(`adopt target ${step.to} is not a backup name`);
    await renameNoReplace(path.join(bootDir, step.from), path.join(bootDir, step.to));
  }
}
