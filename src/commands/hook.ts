// `kbackup hook …`: what the shims in /etc/kernel/*.d and /etc/initramfs/post-update.d run.
// A kernel update never fails because of kbackup unless ON_ERROR=fail says so.
import * as fs from 'node:fs';
import { DEFAULT_CONFIG } from '../core/config';
import { ConfigError, KbackupError, UsageError } from '../core/errors';
import { runHookInitramfs, runHookPreinst } from './backup';
import { runHookPostinst } from './check';
import type { CommandContext } from './context';
import { runHookPostrm } from './manage';

export const HOOK_KINDS = ['preinst', 'postinst', 'postrm', 'initramfs'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

/**
 * ON_ERROR as far as it can be known: from the parsed configuration, or, when the file is broken,
 * from a plain `ON_ERROR=fail` line in it (an admin who asked for failure gets it even then).
 */
async function onErrorFails(ctx: CommandContext): Promise<boolean> {
  try {
    return (await ctx.config()).onError === 'fail';
  } catch {
    const text = await fs.promises.readFile(ctx.world.configPath, 'utf8').catch(() => '');
    return /^\s*ON_ERROR=["']?fail["']?\s*(#.*)?$/m.test(text);
  }
}

export async function runHook(ctxIn: CommandContext, kind: HookKind, version: string, extra: string | undefined): Promise<number> {
  let ctx = ctxIn;
  try {
    if (!fs.statSync(ctx.world.root, { throwIfNoEntry: false })?.isDirectory()) {
      throw new UsageError(`--root ${ctx.world.root} is not a directory`);
    }
    await ctx.config();
  } catch (err) {
    // A bad line in /etc/default/kbackup must not switch the safety net off: the hook says so and
    // goes on with the defaults, unless the admin asked for ON_ERROR=fail.
    if (err instanceof UsageError) {
      if (await onErrorFails(ctx)) throw err;
      ctx.world.log.warn(`${err.message} (the kernel update goes on: ON_ERROR=warn)`);
      return 0;
    }
    if (!(err instanceof ConfigError) || (await onErrorFails(ctx))) throw err;
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
    if (kind !== 'postinst' && (await onErrorFails(ctx))) throw err;
    const message = err instanceof KbackupError ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`;
    ctx.world.log.warn(`${message} (the kernel update goes on: ON_ERROR=warn)`);
    return 0;
  }
}
