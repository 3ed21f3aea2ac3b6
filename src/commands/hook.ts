// `kbackup hook …`: what the shims in /etc/kernel/*.d and /etc/initramfs/post-update.d run.
// A kernel update never fails because of kbackup unless ON_ERROR=fail says so.
import { DEFAULT_CONFIG } from '../core/model/config';
import { ConfigError, KbackupError, UsageError } from '../core/model/errors';
import { hookShouldFail, rootIsDirectory } from '../core/ops/state';
import { runHookInitramfs, runHookPreinst } from './backup';
import { runHookPostinst } from './check';
import type { CommandContext } from './context';
import { runHookPostrm } from './manage';

export const HOOK_KINDS = ['preinst', 'postinst', 'postrm', 'initramfs'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

export async function runHook(ctxIn: CommandContext, kind: HookKind, version: string, extra: string | undefined): Promise<number> {
  let ctx = ctxIn;
  const fails = () => hookShouldFail(ctx.world, ctx.config);
  try {
    if (!(await rootIsDirectory(ctx.world))) throw new UsageError(`--root ${ctx.world.root} is not a directory`);
    await ctx.config();
  } catch (err) {
    // A bad line in /etc/default/kbackup must not switch the safety net off: the hook says so and
    // goes on with the defaults, unless the admin asked for ON_ERROR=fail.
    if (err instanceof UsageError) {
      if (await fails()) throw err;
      ctx.world.log.warn(`${err.message} (the kernel update goes on: ON_ERROR=warn)`);
      return 0;
    }
    if (!(err instanceof ConfigError) || (await fails())) throw err;
    ctx.world.log.warn(`${err.message}; this hook uses the default settings until it is fixed`);
    const defaults = { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] };
    ctx = { ...ctx, config: async () => defaults };
  }
  try {
    switch (kind) {
      case 'preinst':
        return await runHookPreinst(ctx, version);
      case 'postinst':
        return await runHookPostinst(ctx, version);
      case 'postrm':
        return await runHookPostrm(ctx, version);
      case 'initramfs':
        if (!extra) throw new ConfigError('hook initramfs needs VERSION and the INITRD path, as update-initramfs passes them');
        return await runHookInitramfs(ctx, version, extra);
    }
  } catch (err) {
    // postinst is read-only and only ever informs: it never stops an update, whatever ON_ERROR says.
    if (kind !== 'postinst' && (await fails())) throw err;
    const message = err instanceof KbackupError ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`;
    ctx.world.log.warn(`${message} (the kernel update goes on: ON_ERROR=warn)`);
    return 0;
  }
}
