// `kbackup restore ID`: put a backup set back as the live files, after backing up the live ones.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { applyRestore } from '../core/apply';
import { isComplete, setsOf, type BackupSet } from '../core/boot-model';
import { sha256File } from '../core/copy';
import { backupVersion, readState, withLock, type BackupOutcome, type State } from '../core/engine';
import { RefusedError, UsageError } from '../core/errors';
import { manifestSet } from '../core/manifest';
import { planRestore } from '../core/plan';
import type { World } from '../core/world';
import { COMMAND_LOCK_WAIT_MS } from './backup';
import type { CommandContext } from './context';
import { renderBackupPlan } from './render';

export interface RestoreArgs {
  id: string;
  dryRun: boolean;
  yes: boolean;
  /** true/false forces; undefined = run update-grub only when acting on the real root. */
  updateGrub?: boolean;
}

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

/** A set must still be what kbackup recorded before it becomes the live kernel. */
async function verifyAgainstManifest(state: State, set: BackupSet): Promise<string[]> {
  const recorded = manifestSet(state.manifest, set.id);
  if (!recorded) return [`${set.id} is not recorded in the manifest, so its checksums cannot be verified`];
  const problems: string[] = [];
  for (const f of set.files.values()) {
    const r = recorded.files.find((m) => m.name === f.name);
    if (!r) {
      problems.push(`${f.name} is not recorded in the manifest`);
      continue;
    }
    const actual = await sha256File(path.join(state.paths.boot, f.name));
    if (actual !== r.sha256) problems.push(`${f.name} no longer matches its recorded sha256`);
  }
  return problems;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

interface RestoreDecision {
  set: BackupSet;
  plan: ReturnType<typeof planRestore>;
  live: BackupOutcome;
  /** Why the restore must not happen, decided before anything is touched. */
  refusal?: string;
  warnings: string[];
}

/** Reads and decides; touches nothing (the live files' backup is only planned here). */
async function decideRestore(world: World, state: State, id: string): Promise<RestoreDecision> {
  const set = findSet(state, id);
  if (!isComplete(set)) throw new RefusedError(`${set.id} is incomplete (a kernel image and its initrd are both needed); refusing to restore it`);
  const warnings: string[] = [];
  let refusal: string | undefined;
  const problems = await verifyAgainstManifest(state, set);
  if (problems.length > 0 && state.manifestState === 'ok') refusal = `${problems.join('; ')} (kbackup check shows details)`;
  else warnings.push(...problems);
  if (manifestSet(state.manifest, set.id)?.origin === 'rebuilt') {
    warnings.push(`${set.id}'s checksums were recorded when the manifest was rebuilt, so they vouch only for the files as they were then`);
  }
  const live = await backupVersion(world, state, { version: set.version, origin: 'restore', protectedIds: [set.id], dryRun: true });
  const skip = live.plan.skip;
  if (skip?.reason === 'no-space' || skip?.reason === 'keep-zero') {
    refusal ??= `the live files of ${set.version} cannot be backed up first (${skip.message}), so the restore could not be undone`;
  } else if (skip?.reason === 'incomplete-live-set' || skip?.reason === 'nothing-to-back-up') {
    warnings.push(`the live files of ${set.version} are incomplete (${skip.message}); there is nothing bootable to keep, so they are replaced without a backup`);
  }
  return { set, plan: planRestore(set), live, refusal, warnings };
}

export async function runRestore(ctx: CommandContext, args: RestoreArgs): Promise<number> {
  const config = await ctx.config();
  const { world } = ctx;
  // Decide and ask without the lock: a confirmation prompt must never hold up a kernel update's hooks.
  const first = await decideRestore(world, await readState(world, config), args.id);
  const steps = (d: RestoreDecision, dry: boolean) => d.plan.copies.map((c) => `${dry ? 'would restore' : 'restored'} ${c.from} -> ${c.to}`);
  if (args.dryRun) {
    const lines = [...first.warnings.map((w) => `warning: ${w}`)];
    if (first.refusal) lines.push(`would refuse: ${first.refusal}`);
    else lines.push(...renderBackupPlan(first.live.plan, true).filter((l) => !l.includes('would skip')), ...steps(first, true));
    ctx.out(`${lines.join('\n')}\n`);
    return first.refusal ? 1 : 0;
  }
  if (first.refusal) throw new RefusedError(`refusing to restore ${first.set.id}: ${first.refusal}`);
  if (!args.yes) {
    if (!ctx.interactive) throw new RefusedError(`restore replaces the live kernel files of ${first.set.version}; run again with --yes to confirm`);
    const answer = await ctx.ask(`Replace the live kernel files of ${first.set.version} with ${first.set.id}? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new RefusedError('restore cancelled; nothing was changed');
  }
  return withLock(world, `restore ${args.id}`, COMMAND_LOCK_WAIT_MS, async () => {
    const state = await readState(world, config);
    const decision = await decideRestore(world, state, args.id);
    if (decision.refusal) throw new RefusedError(`refusing to restore ${decision.set.id}: ${decision.refusal}`);
    for (const w of decision.warnings) world.log.warn(w);
    // The live files first become a backup set of their own, so the restore can be undone.
    const live = await backupVersion(world, state, { version: decision.set.version, origin: 'restore', protectedIds: [decision.set.id] });
    if (live.plan.skip?.warn && live.plan.skip.reason !== 'incomplete-live-set') {
      throw new RefusedError(`cannot back up the live files of ${decision.set.version} first (${live.plan.skip.message}); nothing was restored`);
    }
    for (const l of renderBackupPlan(live.plan, false)) world.log.info(l);
    const undoId = live.plan.id ?? (live.plan.skip?.reason === 'identical' ? setsOf(state.model, decision.set.version)[0]?.id : undefined);
    await applyRestore(state.paths.boot, decision.plan, { copied: (c) => world.log.info(`restored ${c.from} -> ${c.to}`) });
    await runUpdateGrub(ctx, args.updateGrub);
    ctx.out(
      `restored ${decision.set.id} as the live files of ${decision.set.version}.\n` +
        (undoId ? `To undo: kbackup restore ${undoId}\n` : '') +
        `Note: /lib/modules/${decision.set.version} still holds the installed package's modules, and dpkg --verify will report the restored files as changed until the kernel package is reinstalled or updated.\n`,
    );
    return 0;
  });
}

async function runUpdateGrub(ctx: CommandContext, wanted: boolean | undefined): Promise<void> {
  const { world } = ctx;
  const onRealRoot = path.resolve(world.root) === '/';
  if (wanted === false || (wanted === undefined && !onRealRoot)) {
    world.log.info('update-grub was not run (the boot menu entries keep their names, so grub.cfg stays valid)');
    return;
  }
  const updateGrub = path.join(world.root, 'usr/sbin/update-grub');
  if (!(await exists(updateGrub))) {
    world.log.info('update-grub is not installed; not run');
    return;
  }
  const r = onRealRoot ? await world.exec('/usr/sbin/update-grub', []) : await world.exec('chroot', [world.root, '/usr/sbin/update-grub']);
  if (r.code !== 0) world.log.warn(`update-grub failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  else world.log.info('update-grub ran');
}
