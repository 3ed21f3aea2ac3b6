// `kbackup prune` and the postrm hook: deleting whole sets, by the keep policy or because their
// kernel was purged.
import { readGrubCfg, readGrubScripts } from '../io/grub-files';
import { grubPathBasename } from '../model/grub/grub-cfg';
import type { World } from '../world';
import { setsOf } from '../model/boot-model';
import type { Config } from '../model/config';
import { RefusedError, UsageError } from '../model/errors';
import { assertSafeVersion } from '../model/names';
import { planPrune, planPurge, pruneRisks, type DeleteSet } from '../model/plan';
import { COMMAND_LOCK_WAIT_MS, deleteSets, HOOK_LOCK_WAIT_MS, readState, withLock, type State } from './state';

/** The file name GRUB boots by default: grub.cfg's default entry, else update-grub's first entry. */
async function defaultImageName(state: State): Promise<string | undefined> {
  const cfg = await readGrubCfg(state.paths).catch(() => undefined);
  const image = cfg?.defaultLinux ?? (await readGrubScripts(state.paths)).predicted[0]?.image;
  return image === undefined ? undefined : grubPathBasename(image);
}

async function decidePrune(state: State, keep: number, version: string | undefined): Promise<{ deletes: DeleteSet[]; risks: string[] }> {
  const deletes = planPrune(state.model, keep, version, state.knownGoodIds);
  return { deletes, risks: pruneRisks(state.model, deletes, await defaultImageName(state)) };
}

/**
 * Applies the keep policy (KEEP, or --keep) now, to one kernel version or to all. When the prune
 * would remove every set of a version or the set GRUB boots by default, `confirm` is asked first
 * (without the lock: a prompt must never hold up a kernel update's hooks) and throws to refuse;
 * without `confirm` such a prune is refused.
 */
export async function prune(
  world: World,
  config: Config,
  options: { keep?: number | undefined; dryRun: boolean; version?: string | undefined; confirm?(risks: readonly string[]): Promise<void> },
): Promise<{ keep: number; deletes: DeleteSet[] }> {
  const { version, dryRun } = options;
  if (version !== undefined) assertSafeVersion(version);
  const keep = options.keep ?? config.keep;
  if (!Number.isInteger(keep) || keep < 0 || keep > 99) throw new UsageError(`--keep takes a whole number from 0 to 99, not ${options.keep}`);
  const first = await readState(world, config);
  if (version !== undefined && setsOf(first.model, version).length === 0) {
    throw new UsageError(`there are no backups of ${version} (kbackup list shows the backup sets)`);
  }
  const decided = await decidePrune(first, keep, version);
  if (dryRun) return { keep, deletes: decided.deletes };
  if (decided.risks.length > 0) {
    if (!options.confirm) throw new RefusedError(`prune would remove ${decided.risks.join(', and ')}; nothing was removed`);
    await options.confirm(decided.risks);
  }
  return withLock(world, 'prune', COMMAND_LOCK_WAIT_MS, async () => {
    const state = await readState(world, config);
    const { deletes, risks } = await decidePrune(state, keep, version);
    const unconfirmed = risks.filter((r) => !decided.risks.includes(r));
    if (unconfirmed.length > 0) throw new RefusedError(`the backups changed while kbackup asked (${unconfirmed.join('; ')}); nothing was removed, run kbackup prune again`);
    await deleteSets(world, state, deletes);
    return { keep, deletes };
  });
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
    // A broken configuration deletes nothing, whatever ON_PURGE it could read.
    if (action === 'remove' || config.onPurge === 'keep' || (config.problems?.length ?? 0) > 0) {
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
