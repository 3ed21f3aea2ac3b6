// `kbackup prune` and the postrm hook: deleting whole sets, by the keep policy or because their
// kernel was purged.
import { readGrubScripts } from '../io/grub-files';
import type { World } from '../world';
import { setsOf } from '../model/boot-model';
import type { Config } from '../model/config';
import { UsageError } from '../model/errors';
import { assertSafeVersion } from '../model/names';
import { planPrune, planPurge, type DeleteSet } from '../model/plan';
import { COMMAND_LOCK_WAIT_MS, deleteSets, HOOK_LOCK_WAIT_MS, readState, withLock } from './state';

/** Applies the keep policy (KEEP, or --keep) now, to one kernel version or to all. */
export async function prune(
  world: World,
  config: Config,
  options: { keep?: number | undefined; dryRun: boolean; version?: string | undefined },
): Promise<{ keep: number; deletes: DeleteSet[] }> {
  const { version, dryRun } = options;
  if (version !== undefined) assertSafeVersion(version);
  const keep = options.keep ?? config.keep;
  if (!Number.isInteger(keep) || keep < 0 || keep > 99) throw new UsageError(`--keep takes a whole number from 0 to 99, not ${options.keep}`);
  const act = async () => {
    const state = await readState(world, config);
    const deletes = planPrune(state.model, keep, version, state.knownGoodIds);
    if (!dryRun) await deleteSets(world, state, deletes);
    return { keep, deletes };
  };
  return dryRun ? act() : withLock(world, 'prune', COMMAND_LOCK_WAIT_MS, act);
}

export type PostrmOutcome =
  | { kind: 'nothing' }
  /** The backups stayed, and one of them would now be GRUB's default entry. */
  | { kind: 'backup-would-be-default'; first: string }
  /** A purge with ON_PURGE=keep: the sets stay. */
  | { kind: 'kept'; sets: number }
  | { kind: 'removed'; deletes: DeleteSet[] };

/**
 * The kernel postrm runs on remove, purge, upgrade…: only a purge with ON_PURGE=remove deletes.
 * On remove and purge it warns when that kernel's backups would now be GRUB's default entry
 * (they sort above every live kernel once the live files are gone).
 */
export async function afterKernelRemoval(world: World, config: Config, version: string): Promise<PostrmOutcome> {
  assertSafeVersion(version);
  const action = (world.env.DEB_MAINT_PARAMS ?? '').trim().split(/\s+/)[0];
  if (!config.enabled || (action !== 'purge' && action !== 'remove')) return { kind: 'nothing' };
  return withLock(world, `postrm ${version}`, HOOK_LOCK_WAIT_MS, async (): Promise<PostrmOutcome> => {
    const state = await readState(world, config);
    const sets = setsOf(state.model, version);
    if (sets.length === 0) return { kind: 'nothing' };
    if (action === 'remove' || config.onPurge === 'keep') {
      const first = (await readGrubScripts(state.paths)).predicted[0]?.image;
      const firstIsOurs = first !== undefined && sets.some((s) => [...s.files.values()].some((f) => `/boot/${f.name}` === first));
      if (firstIsOurs) return { kind: 'backup-would-be-default', first };
      return action === 'purge' ? { kind: 'kept', sets: sets.length } : { kind: 'nothing' };
    }
    const deletes = planPurge(state.model, version, state.knownGoodIds);
    await deleteSets(world, state, deletes);
    return { kind: 'removed', deletes };
  });
}
