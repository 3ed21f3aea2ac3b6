// `list`, `prune`, `adopt` and `hook postrm`: reading and tidying the backup sets.
import * as path from 'node:path';
import { applyAdopt } from '../core/apply';
import { isComplete, setBytes, setsOf, type BackupSet } from '../core/boot-model';
import { sha256File } from '../core/copy';
import { predictMenu } from '../core/check';
import { deleteSets, readState, reconcileManifest, withLock, type State } from '../core/engine';
import { UsageError } from '../core/errors';
import { withSet, writeManifest, type ManifestSet } from '../core/manifest';
import { assertSafeVersion } from '../core/names';
import { planAdopt, planPrune, planPurge } from '../core/plan';
import { mib } from '../core/space';
import { COMMAND_LOCK_WAIT_MS, HOOK_LOCK_WAIT_MS } from './backup';
import type { CommandContext } from './context';
import { renderDeletes, table } from './render';

export interface ListedFile {
  path: string;
  stem: string;
  size: number;
  sha256: string | null;
}

export interface ListedSet {
  id: string;
  version: string;
  created: string;
  files: ListedFile[];
  size: number;
  complete: boolean;
  legacy: boolean;
  /** Recorded in the manifest, and every file's size and mtime still match it (check compares sha256). */
  verified: boolean;
  origin: string | null;
  packageVersion: string | null;
}

export function listSets(state: State, version?: string): ListedSet[] {
  const sets = version ? setsOf(state.model, version) : state.model.sets;
  const recorded = new Map(state.manifest.sets.map((s) => [s.id, s]));
  return sets.map((set) => describeSet(set, recorded.get(set.id)));
}

function describeSet(set: BackupSet, recorded: ManifestSet | undefined): ListedSet {
  const byName = new Map(recorded?.files.map((m) => [m.name, m]));
  const files = [...set.files.entries()].map(([stem, f]) => {
    const r = byName.get(f.name);
    return { path: `/boot/${f.name}`, stem, size: f.size, sha256: r?.sha256 ?? null };
  });
  const verified =
    !!recorded &&
    [...set.files.values()].every((f) => {
      const r = byName.get(f.name);
      return !!r && r.size === f.size && Math.abs(Date.parse(r.mtime) - f.mtimeMs) < 1000 && f.type === 'file';
    });
  return {
    id: set.id,
    version: set.version,
    created: set.created.toISOString(),
    files,
    size: setBytes(set),
    complete: isComplete(set),
    legacy: set.legacy,
    verified,
    origin: recorded?.origin ?? null,
    packageVersion: recorded?.packageVersion ?? null,
  };
}

export async function runList(ctx: CommandContext, version: string | undefined, json: boolean): Promise<number> {
  if (version !== undefined) assertSafeVersion(version);
  const state = await readState(ctx.world, await ctx.config());
  const listed = listSets(state, version);
  if (json) {
    ctx.out(`${JSON.stringify(listed, null, 2)}\n`);
    return 0;
  }
  if (state.manifestState !== 'ok' && listed.length > 0) {
    ctx.world.log.warn(`the manifest is ${state.manifestState}; the next backup or prune rebuilds it`);
  }
  if (listed.length === 0) {
    ctx.out(version ? `no backups of ${version}\n` : 'no backups\n');
    return 0;
  }
  const rows = [['ID', 'CREATED (UTC)', 'SIZE', 'FILES', 'STATE']];
  for (const s of listed) {
    const stateText = [s.complete ? 'complete' : 'INCOMPLETE', s.legacy ? 'legacy name (kbackup adopt)' : '', s.verified ? 'verified' : 'unverified']
      .filter(Boolean)
      .join(', ');
    rows.push([s.id, s.created.slice(0, 16).replace('T', ' '), mib(s.size), String(s.files.length), stateText]);
  }
  ctx.out(`${table(rows)}\n`);
  return 0;
}

export async function runPrune(ctx: CommandContext, keepArg: number | undefined, dryRun: boolean, version?: string): Promise<number> {
  if (version !== undefined) assertSafeVersion(version);
  const config = await ctx.config();
  const keep = keepArg ?? config.keep;
  if (!Number.isInteger(keep) || keep < 0 || keep > 99) throw new UsageError(`--keep takes a whole number from 0 to 99, not ${keepArg}`);
  const act = async () => {
    const state = await readState(ctx.world, config);
    const deletes = planPrune(state.model, keep, version);
    const lines = renderDeletes(deletes, dryRun);
    if (dryRun) {
      ctx.out(lines.length ? `${lines.join('\n')}\n` : `nothing to prune (KEEP=${keep})\n`);
      return 0;
    }
    await deleteSets(ctx.world, state, deletes);
    for (const l of lines) ctx.world.log.info(l);
    if (lines.length === 0) ctx.world.log.info(`nothing to prune (KEEP=${keep})`);
    return 0;
  };
  return dryRun ? act() : withLock(ctx.world, 'prune', COMMAND_LOCK_WAIT_MS, act);
}

export async function runAdopt(ctx: CommandContext, dryRun: boolean): Promise<number> {
  const config = await ctx.config();
  const act = async () => {
    const state = await readState(ctx.world, config);
    const plan = planAdopt(state.model, new Set(state.scan.files.map((f) => f.name)));
    const verb = dryRun ? 'would rename' : 'renamed';
    const lines = plan.renames.map((r) => `${verb} ${r.from} -> ${r.to}`);
    for (const c of plan.conflicts) ctx.world.log.warn(`cannot adopt ${c.name}: ${c.existing} already exists; remove one of them by hand`);
    if (dryRun) {
      ctx.out(lines.length ? `${lines.join('\n')}\n` : 'no legacy backups to adopt\n');
      return plan.conflicts.length ? 1 : 0;
    }
    let manifest = await reconcileManifest(ctx.world, state);
    await applyAdopt(state.paths.boot, plan.renames, state.stems);
    for (const id of new Set(plan.renames.map((r) => r.id))) {
      const set = state.model.sets.find((s) => s.id === id)!;
      const files = [];
      for (const [stem, f] of set.files) {
        const name = plan.renames.find((r) => r.from === f.name)?.to ?? f.name;
        const sha256 = await sha256File(path.join(state.paths.boot, name));
        files.push({ stem, name, size: f.size, mode: f.mode, uid: f.uid, gid: f.gid, mtime: new Date(f.mtimeMs).toISOString(), sha256 });
      }
      manifest = withSet(manifest, { id, version: set.version, created: set.created.toISOString(), origin: 'adopt', files });
    }
    await writeManifest(state.paths.manifest, manifest);
    for (const l of lines) ctx.world.log.info(l);
    if (lines.length === 0) ctx.world.log.info('no legacy backups to adopt');
    return plan.conflicts.length ? 1 : 0;
  };
  return dryRun ? act() : withLock(ctx.world, 'adopt', COMMAND_LOCK_WAIT_MS, act);
}

/**
 * The kernel postrm runs on remove, purge, upgrade…: only a purge with ON_PURGE=remove deletes.
 * On remove and purge it warns when that kernel's backups would now be GRUB's default entry
 * (they sort above every live kernel once the live files are gone).
 */
export async function runHookPostrm(ctx: CommandContext, version: string): Promise<number> {
  assertSafeVersion(version);
  const config = await ctx.config();
  const action = (ctx.world.env.DEB_MAINT_PARAMS ?? '').trim().split(/\s+/)[0];
  if (!config.enabled || (action !== 'purge' && action !== 'remove')) return 0;
  return withLock(ctx.world, `postrm ${version}`, HOOK_LOCK_WAIT_MS, async () => {
    const state = await readState(ctx.world, config);
    const sets = setsOf(state.model, version);
    if (sets.length === 0) return 0;
    if (action === 'remove' || config.onPurge === 'keep') {
      const first = (await predictMenu(state))[0]?.image;
      const firstIsOurs = first !== undefined && sets.some((s) => [...s.files.values()].some((f) => `/boot/${f.name}` === first));
      if (firstIsOurs) {
        ctx.world.log.warn(
          `kernel ${version} is gone but its backups are not, and ${first} would now be GRUB's default entry; ` +
            `kbackup prune --keep 0 ${version} removes them (or set ON_PURGE=remove before purging)`,
        );
      } else if (action === 'purge') {
        ctx.world.log.info(`kept ${sets.length} backup set(s) of purged kernel ${version} (ON_PURGE=keep; kbackup prune --keep 0 ${version} removes them)`);
      }
      return 0;
    }
    const deletes = planPurge(state.model, version);
    await deleteSets(ctx.world, state, deletes);
    for (const l of renderDeletes(deletes, false)) ctx.world.log.info(l);
    return 0;
  });
}
