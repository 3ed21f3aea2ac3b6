// `hook preinst`, `hook initramfs` and `snapshot`: the commands that make backup sets.
import { backupBeforeUpdate, keepPreviousInitrd, snapshot } from '../core/ops/backup';
import { RefusedError } from '../core/model/errors';
import type { BackupPlan } from '../core/model/plan';
import type { CommandContext } from './context';
import { armFromHook } from './trial';
import { renderBackupPlan, renderProblems } from './render';

export async function runHookPreinst(ctx: CommandContext, version: string): Promise<number> {
  const plan = await backupBeforeUpdate(ctx.world, await ctx.config(), version);
  return plan ? reportBackup(ctx, plan, false, 'hook') : 0;
}

export async function runSnapshot(ctx: CommandContext, versionArg: string | undefined, dryRun: boolean): Promise<number> {
  const plan = await snapshot(ctx.world, await ctx.config(), versionArg, dryRun);
  return reportBackup(ctx, plan, dryRun, 'command');
}

function reportBackup(ctx: CommandContext, plan: BackupPlan, dryRun: boolean, mode: 'hook' | 'command'): number {
  const lines = renderBackupPlan(plan, dryRun);
  if (dryRun) {
    ctx.out(`${lines.join('\n')}\n`);
    return 0;
  }
  const skip = plan.skip;
  if (skip?.warn) {
    // A wanted backup that could not be made: main turns this into ON_ERROR's answer for hooks.
    for (const l of lines.filter((l) => !l.includes(skip.message))) ctx.world.log.info(l);
    throw new RefusedError(skip.message);
  }
  if (mode === 'command' && skip?.reason === 'keep-zero') {
    throw new RefusedError(`KEEP=0 in ${ctx.world.configPath}: no new backups are made; set KEEP=1 or more there to back up ${plan.version}`);
  }
  if (mode === 'hook' && skip?.reason === 'nothing-to-back-up') {
    // A new ABI's first install is the common case and must stay quiet: any output makes
    // run-parts --report name the hook in dpkg's log as if something had happened.
    ctx.world.log.debug(`no kernel ${plan.version} installed yet: nothing to back up`);
    return 0;
  }
  // The per-file lines are details; the deletions and the summary are what an admin reads in dpkg's output.
  for (const l of lines) (l.startsWith('copied ') ? ctx.world.log.debug : ctx.world.log.info)(l);
  return 0;
}

/** `hook initramfs VERSION INITRD`: keeps the previous initrd, then judges the rebuilt one. */
export async function runHookInitramfs(ctx: CommandContext, version: string, initrdArg: string): Promise<number> {
  const outcome = await keepPreviousInitrd(ctx.world, await ctx.config(), version, initrdArg);
  if (!outcome.kept) ctx.world.log.debug(outcome.why);
  else if (outcome.plan.skip?.reason === 'identical') ctx.world.log.debug('the previous initrd is already the newest backup');
  else reportBackup(ctx, outcome.plan, false, 'hook');
  if (outcome.health) {
    const { problems, previousId } = outcome.health;
    renderProblems(ctx, problems);
    if (problems.some((p) => p.severity === 'error')) {
      ctx.world.log.warn(
        previousId
          ? `the rebuilt initrd of ${version} looks broken; kbackup diff ${previousId} compares it with its backup, kbackup restore ${previousId} puts that back`
          : `the rebuilt initrd of ${version} looks broken and no backup of it exists; do not reboot into ${version} before it is fixed`,
      );
    }
  }
  await armFromHook(ctx, await ctx.config(), 'initramfs');
  return 0;
}
