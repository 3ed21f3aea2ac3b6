// `kbackup hook …`: what the shims in /etc/kernel/*.d and /etc/initramfs/post-update.d run.
// A kernel update never fails because of kbackup unless ON_ERROR=fail says so.
import * as fs from 'node:fs/promises';
import { ConfigError, KbackupError } from '../core/errors';
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
    const text = await fs.readFile(ctx.world.configPath, 'utf8').catch(() => '');
    return /^\s*ON_ERROR=["']?fail["']?\s*(#.*)?$/m.test(text);
  }
}

export async function runHook(ctx: CommandContext, kind: HookKind, version: string, extra: string | undefined): Promise<number> {
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
