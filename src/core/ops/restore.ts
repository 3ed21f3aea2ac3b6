// `kbackup restore ID`: put a backup set back as the live files, after backing up the live ones.
// decideRestore reads and decides without the lock (a confirmation prompt must never hold up a
// kernel update's hooks); restore decides again under the lock and carries it out.
import * as path from 'node:path';
import { applyRestore } from '../io/apply';
import { runUpdateGrub } from '../io/update-grub';
import type { World } from '../world';
import { isComplete, setsOf, type BackupSet } from '../model/boot-model';
import type { Config } from '../model/config';
import { RefusedError, UsageError } from '../model/errors';
import { manifestSet } from '../model/manifest';
import { planRestore, type BackupPlan, type CopyStep, type RestorePlan } from '../model/plan';
import { backupVersion } from './backup';
import { COMMAND_LOCK_WAIT_MS, readState, withLock, type State } from './state';
import { restoreVerification } from './verify';

/** Levenshtein distance, for "did you mean" on a mistyped ID. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function nearestIds(ids: readonly string[], wanted: string, count = 3): string[] {
  return [...ids].sort((x, y) => distance(x, wanted) - distance(y, wanted) || (x < y ? -1 : 1)).slice(0, count);
}

function findSet(state: State, id: string): BackupSet {
  const set = state.model.sets.find((s) => s.id === id);
  if (set) return set;
  const ids = state.model.sets.map((s) => s.id);
  if (ids.length === 0) throw new UsageError(`no backup set ${id}: there are no backups in ${state.paths.boot}`);
  throw new UsageError(`no backup set ${id}; nearest: ${nearestIds(ids, id).join(', ')} (kbackup list shows all)`);
}

export interface RestoreDecision {
  set: BackupSet;
  plan: RestorePlan;
  /** The backup of the live files that comes first (planned only). */
  live: BackupPlan;
  /** Why the restore must not happen, decided before anything is touched. */
  refusal?: string;
  warnings: string[];
}

async function decide(world: World, state: State, id: string): Promise<RestoreDecision> {
  const set = findSet(state, id);
  if (!isComplete(set)) throw new RefusedError(`${set.id} is incomplete (a kernel image and its initrd are both needed); refusing to restore it`);
  const warnings: string[] = [];
  let refusal: string | undefined;
  const problems = await restoreVerification(state, set);
  if (problems.length > 0 && state.manifestState === 'ok') refusal = `${problems.join('; ')} (kbackup check shows details)`;
  else warnings.push(...problems);
  if (manifestSet(state.manifest, set.id)?.origin === 'rebuilt') {
    warnings.push(`${set.id}'s checksums were recorded when the manifest was rebuilt, so they vouch only for the files as they were then`);
  }
  const live = await backupVersion(world, state, { version: set.version, origin: 'restore', protectedIds: [set.id], dryRun: true });
  const skip = live.skip;
  if (skip?.reason === 'no-space' || skip?.reason === 'keep-zero') {
    refusal ??= `the live files of ${set.version} cannot be backed up first (${skip.message}), so the restore could not be undone`;
  } else if (skip?.reason === 'incomplete-live-set' || skip?.reason === 'nothing-to-back-up') {
    warnings.push(`the live files of ${set.version} are incomplete (${skip.message}); there is nothing bootable to keep, so they are replaced without a backup`);
  }
  const decision: RestoreDecision = { set, plan: planRestore(set), live, warnings };
  if (refusal !== undefined) decision.refusal = refusal;
  return decision;
}

/** Reads and decides; touches nothing (the live files' backup is only planned). */
export async function decideRestore(world: World, config: Config, id: string): Promise<RestoreDecision> {
  return decide(world, await readState(world, config), id);
}

export interface RestoreOutcome {
  set: BackupSet;
  /** The set that puts the replaced live files back, if there is one. */
  undoId?: string;
  /** What update-grub did: not wanted, not installed, ran, or failed (with its last lines). */
  updateGrub: { ran: false; why: 'not-wanted' | 'not-installed' } | { ran: true; code: number; stderr: string };
}

export interface RestoreEvents {
  /** The live files' backup, made before anything is replaced. */
  backedUp(plan: BackupPlan): void;
  restored(step: CopyStep): void;
}

/**
 * Decides again under the lock and restores: the live files first become a backup set of their own
 * (so the restore can be undone), then the set's files replace them, then update-grub runs when
 * wanted (true/false forces; undefined = only when acting on the real root).
 */
export async function restore(world: World, config: Config, id: string, options: { updateGrub?: boolean | undefined }, events: RestoreEvents): Promise<RestoreOutcome> {
  return withLock(world, `restore ${id}`, COMMAND_LOCK_WAIT_MS, async () => {
    const state = await readState(world, config);
    const decision = await decide(world, state, id);
    if (decision.refusal) throw new RefusedError(`refusing to restore ${decision.set.id}: ${decision.refusal}`);
    for (const w of decision.warnings) world.log.warn(w);
    const live = await backupVersion(world, state, { version: decision.set.version, origin: 'restore', protectedIds: [decision.set.id] });
    if (live.skip?.warn && live.skip.reason !== 'incomplete-live-set') {
      throw new RefusedError(`cannot back up the live files of ${decision.set.version} first (${live.skip.message}); nothing was restored`);
    }
    events.backedUp(live);
    const undoId = live.id ?? (live.skip?.reason === 'identical' ? setsOf(state.model, decision.set.version)[0]?.id : undefined);
    await applyRestore(state.paths.boot, decision.plan, { copied: (c) => events.restored(c) });
    const outcome: RestoreOutcome = { set: decision.set, updateGrub: await updateGrubIfWanted(world, options.updateGrub) };
    if (undoId) outcome.undoId = undoId;
    return outcome;
  });
}

async function updateGrubIfWanted(world: World, wanted: boolean | undefined): Promise<RestoreOutcome['updateGrub']> {
  const onRealRoot = path.resolve(world.root) === '/';
  if (wanted === false || (wanted === undefined && !onRealRoot)) return { ran: false, why: 'not-wanted' };
  const r = await runUpdateGrub(world);
  if (!r) return { ran: false, why: 'not-installed' };
  return { ran: true, code: r.code, stderr: r.stderr };
}
