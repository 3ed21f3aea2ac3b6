// What the fallback work prints: the prerm hook and the refresh after a hook or a trial command.
import { keepBeforeRemoval, refreshFallback, type FallbackRefresh, type RefreshRequest } from '../core/ops/fallback';
import type { CommandContext } from './context';

/** `hook prerm VERSION`: a copy of the known-good before its package removes the files. */
export async function runHookPrerm(ctx: CommandContext, version: string): Promise<number> {
  const plan = await keepBeforeRemoval(ctx.world, await ctx.config(), version);
  if (plan?.id) ctx.world.log.info(`kept the known-good kernel ${version} as backup set ${plan.id} before its package removes it; GRUB lists it after update-grub`);
  else if (plan?.sameAs) ctx.world.log.debug(`the known-good kernel ${version} is already kept as ${plan.sameAs}`);
  else if (plan?.skip?.warn) ctx.world.log.warn(`could not keep the known-good kernel ${version} before its removal: ${plan.skip.message}`);
  return 0;
}

/** Refreshes the files that follow the fallback and says what an admin must know; never throws for I/O. */
export async function refreshAndReport(ctx: CommandContext, request: RefreshRequest = {}): Promise<FallbackRefresh | undefined> {
  try {
    const r = await refreshFallback(ctx.world, await ctx.config(), request);
    for (const w of r.warnings) ctx.world.log.warn(w);
    if (r.journal) ctx.world.log.debug(`no journal entry: ${r.journal}`);
    return r;
  } catch (err) {
    ctx.world.log.warn(`could not update the fallback files (apt.conf.d, metrics): ${(err as Error).message}`);
    return undefined;
  }
}
