// `list`, `prune`, `adopt` and `hook postrm`: reading and tidying the backup sets.
import { adopt } from '../core/ops/adopt';
import { listSets } from '../core/ops/list';
import { afterKernelRemoval, prune } from '../core/ops/prune';
import { humanSize } from '../core/model/size';
import { RefusedError, UsageError } from '../core/model/errors';
import type { CommandContext } from './context';
import { configValue, type ConfigKey } from '../core/model/config';
import { renderDeletes, table } from './render';

/**
 * `kbackup config KEY`: the value kbackup uses, as the lenient reading a hook makes (a bad line
 * elsewhere in the file does not change it). Exit 0; a key the file cannot give is its default.
 */
export async function runConfigGet(ctx: CommandContext, key: ConfigKey): Promise<number> {
  const { config } = await ctx.configLenient();
  ctx.out(`${configValue(config, key)}\n`);
  return 0;
}

export async function runList(ctx: CommandContext, version: string | undefined, json: boolean): Promise<number> {
  // Listing changes nothing, so a broken configuration only earns a warning.
  const { config, problems } = await ctx.configLenient();
  for (const p of problems) ctx.world.log.warn(`${p.message} (listed anyway; fix that line)`);
  const { sets: listed, manifestState, knownGood } = await listSets(ctx.world, config, version);
  if (json) {
    ctx.out(`${JSON.stringify(listed, null, 2)}\n`);
    return 0;
  }
  if (manifestState !== 'ok' && listed.length > 0) {
    ctx.world.log.warn(`the manifest is ${manifestState}; the next backup or prune rebuilds it`);
  }
  // The known-good usually is the live kernel, which is no backup set: say where it is.
  const goodLine =
    knownGood && !listed.some((s) => s.knownGood) && (!version || knownGood.version === version)
      ? `known-good: ${knownGood.image} (booted ${knownGood.time.slice(0, 16).replace('T', ' ')})\n`
      : '';
  if (listed.length === 0) {
    ctx.out(`${goodLine}${version ? `no backups of ${version}` : 'no backups'}\n`);
    return 0;
  }
  const rows = [['ID', 'CREATED (UTC)', 'SIZE', 'FILES', 'STATE', 'BOOTED (UTC)']];
  for (const s of listed) {
    const stateText = [
      s.complete ? 'complete' : 'INCOMPLETE',
      s.legacy ? 'legacy name (kbackup adopt)' : '',
      s.verified ? 'verified' : 'unverified',
      s.knownGood ? 'known-good' : '',
    ]
      .filter(Boolean)
      .join(', ');
    const booted = s.booted.length === 0 ? '-' : `${s.booted.at(-1)!.slice(0, 16).replace('T', ' ')}${s.booted.length > 1 ? ` (${s.booted.length} boots)` : ''}`;
    rows.push([s.id, s.created.slice(0, 16).replace('T', ' '), humanSize(s.size), String(s.files.length), stateText, booted]);
  }
  ctx.out(`${goodLine}${table(rows)}\n`);
  return 0;
}

export interface PruneArgs {
  keep: string | undefined;
  dryRun: boolean;
  yes: boolean;
  version: string | undefined;
}

export async function runPrune(ctx: CommandContext, args: PruneArgs): Promise<number> {
  if (args.keep !== undefined && !/^\d{1,2}$/.test(args.keep)) throw new UsageError(`--keep takes a whole number from 0 to 99, not "${args.keep}"`);
  const { dryRun } = args;
  const confirm = async (risks: readonly string[]) => {
    if (args.yes) return;
    const what = `kbackup prune would remove ${risks.join(', and ')}`;
    if (!ctx.interactive) throw new RefusedError(`${what}; run again with --yes to confirm (--dry-run shows every set it would remove)`);
    const answer = await ctx.ask(`${what}. Remove them? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new RefusedError('prune cancelled; nothing was removed');
  };
  const { keep, deletes } = await prune(ctx.world, await ctx.config(), {
    keep: args.keep === undefined ? undefined : Number(args.keep),
    dryRun,
    version: args.version,
    confirm,
  });
  const lines = renderDeletes(deletes, dryRun);
  if (dryRun) {
    ctx.out(lines.length ? `${lines.join('\n')}\n` : `nothing to prune (KEEP=${keep})\n`);
    return 0;
  }
  for (const l of lines) ctx.world.log.info(l);
  if (lines.length === 0) ctx.world.log.info(`nothing to prune (KEEP=${keep})`);
  return 0;
}

export async function runAdopt(ctx: CommandContext, dryRun: boolean): Promise<number> {
  const plan = await adopt(ctx.world, await ctx.config(), dryRun);
  const verb = dryRun ? 'would rename' : 'renamed';
  const lines = [
    ...plan.copies.map((c) => `${dryRun ? 'would copy' : 'copied'} ${c.from} -> ${c.to} (the legacy kernel's files, as GRUB paired them, for its own set ${c.id})`),
    ...plan.renames.map((r) => `${verb} ${r.from} -> ${r.to}`),
  ];
  for (const c of plan.conflicts) ctx.world.log.warn(`cannot adopt ${c.name}: ${c.existing} already exists; remove one of them by hand`);
  if (dryRun) ctx.out(lines.length ? `${lines.join('\n')}\n` : 'no legacy backups to adopt\n');
  else {
    for (const l of lines) ctx.world.log.info(l);
    if (lines.length === 0) ctx.world.log.info('no legacy backups to adopt');
  }
  return plan.conflicts.length ? 1 : 0;
}

export async function runHookPostrm(ctx: CommandContext, version: string): Promise<number> {
  const outcome = await afterKernelRemoval(ctx.world, await ctx.config(), version);
  switch (outcome.kind) {
    case 'backup-would-be-default':
      ctx.world.log.warn(
        `kernel ${version} is gone but its backups are not, and ${outcome.first} would now be GRUB's default entry; ` +
          `kbackup prune --yes --keep 0 ${version} removes them (or set ON_PURGE=remove before purging)`,
      );
      break;
    case 'kept':
      ctx.world.log.info(`kept ${outcome.sets} backup set(s) of purged kernel ${version} (ON_PURGE=keep; kbackup prune --yes --keep 0 ${version} removes them)`);
      break;
    case 'removed':
      for (const l of renderDeletes(outcome.deletes, false)) ctx.world.log.info(l);
      break;
    case 'nothing':
      break;
  }
  return 0;
}
