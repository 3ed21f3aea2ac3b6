// `kbackup restore ID`: shows the decision, asks, restores, and says how to undo it.
import { RefusedError } from '../core/model/errors';
import { decideRestore, restore, type RestoreDecision } from '../core/ops/restore';
import type { CommandContext } from './context';
import { renderBackupPlan } from './render';

export interface RestoreArgs {
  id: string;
  dryRun: boolean;
  yes: boolean;
  /** true/false forces; undefined = run update-grub only when acting on the real root. */
  updateGrub?: boolean | undefined;
}

export async function runRestore(ctx: CommandContext, args: RestoreArgs): Promise<number> {
  const config = await ctx.config();
  const { world } = ctx;
  // Decide and ask without the lock: a confirmation prompt must never hold up a kernel update's hooks.
  const first = await decideRestore(world, config, args.id);
  const steps = (d: RestoreDecision) => d.plan.copies.map((c) => `would restore ${c.from} -> ${c.to}`);
  if (args.dryRun) {
    const lines = [...first.warnings.map((w) => `warning: ${w}`)];
    if (first.refusal) lines.push(`would refuse: ${first.refusal}`);
    else lines.push(...renderBackupPlan(first.live, true).filter((l) => !l.includes('would skip')), ...steps(first));
    ctx.out(`${lines.join('\n')}\n`);
    return first.refusal ? 1 : 0;
  }
  if (first.refusal) throw new RefusedError(`refusing to restore ${first.set.id}: ${first.refusal}`);
  if (!args.yes) {
    if (!ctx.interactive) throw new RefusedError(`restore replaces the live kernel files of ${first.set.version}; run again with --yes to confirm`);
    const answer = await ctx.ask(`Replace the live kernel files of ${first.set.version} with ${first.set.id}? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new RefusedError('restore cancelled; nothing was changed');
  }
  const outcome = await restore(
    world,
    config,
    args.id,
    { updateGrub: args.updateGrub },
    {
      backedUp: (plan) => {
        for (const l of renderBackupPlan(plan, false)) world.log.info(l);
      },
      restored: (c) => world.log.info(`restored ${c.from} -> ${c.to}`),
    },
  );
  const grub = outcome.updateGrub;
  if (!grub.ran) {
    world.log.info(
      grub.why === 'not-wanted' ? 'update-grub was not run (the boot menu entries keep their names, so grub.cfg stays valid)' : 'update-grub is not installed; not run',
    );
  } else if (grub.code !== 0) {
    world.log.warn(`update-grub failed (exit ${grub.code}): ${grub.stderr.trim().split('\n').slice(-3).join(' ')}`);
  } else {
    world.log.info('update-grub ran');
  }
  const { set } = outcome;
  ctx.out(
    `restored ${set.id} as the live files of ${set.version}.\n` +
      (outcome.undoId ? `To undo: kbackup restore ${outcome.undoId}\n` : '') +
      `Note: /lib/modules/${set.version} still holds the installed package's modules, and dpkg --verify will report the restored files as changed until the kernel package is reinstalled or updated.\n`,
  );
  return 0;
}
