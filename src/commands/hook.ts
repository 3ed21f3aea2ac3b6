// `kbackup hook …`: what the shims in /etc/kernel/*.d and /etc/initramfs/post-update.d run.
// A kernel update never fails because of kbackup unless ON_ERROR=fail says so.
import { DEFAULT_CONFIG } from '../core/model/config';
import { ConfigError, KbackupError, UsageError } from '../core/model/errors';
import { withTimeLimit } from '../core/ops/time-limit';
import { hookShouldFail, rootIsDirectory } from '../core/ops/state';
import { runHookInitramfs, runHookPreinst } from './backup';
import { runHookPostinst } from './check';
import type { CommandContext } from './context';
import { refreshAndReport, runHookPrerm } from './fallback';
import { runHookPostrm } from './manage';

export const HOOK_KINDS = ['preinst', 'postinst', 'prerm', 'postrm', 'initramfs'] as const;

/**
 * What all the programs one hook runs may take together (reading initrds, listing them, update-grub's
 * helpers). A stuck program is stopped with everything it started, and the update goes on.
 */
export const HOOK_PROGRAMS_TIME_LIMIT_MS = 180_000;
export type HookKind = (typeof HOOK_KINDS)[number];

export async function runHook(ctxIn: CommandContext, kind: HookKind, version: string, extra: string | undefined): Promise<number> {
  let ctx: CommandContext = { ...ctxIn, world: withTimeLimit(ctxIn.world, HOOK_PROGRAMS_TIME_LIMIT_MS) };
  const fails = () => hookShouldFail(ctx.world, ctx.config);
  try {
    if (!(await rootIsDirectory(ctx.world))) throw new UsageError(`--root ${ctx.world.root} is not a directory`);
    // A bad line in /etc/default/kbackup must not switch the safety net off, nor let the defaults
    // delete what the admin asked to keep: the hook keeps every setting it can read (a readable
    // ENABLED=no included), still backs up, and deletes nothing until the file is fixed (unless
    // the admin asked for ON_ERROR=fail).
    const { config, problems } = await ctx.configLenient();
    if (problems.length > 0) {
      if (config.onError === 'fail' || (await fails())) throw problems[0]!;
      for (const p of problems) ctx.world.log.warn(p.message);
      ctx.world.log.warn('until this is fixed, kbackup keeps the settings it can read, still backs up, and deletes nothing');
    }
    ctx = { ...ctx, config: async () => config };
  } catch (err) {
    if (err instanceof UsageError) {
      if (await fails()) throw err;
      ctx.world.log.warn(`${err.message} (the kernel update goes on: ON_ERROR=warn)`);
      return 0;
    }
    if (!(err instanceof ConfigError) || (await fails())) throw err;
    // The file cannot be read at all: the defaults, but still nothing deleted.
    ctx.world.log.warn(`${err.message}; until this is fixed, kbackup uses the default settings, still backs up, and deletes nothing`);
    const defaults = { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files], problems: [err.message] };
    ctx = { ...ctx, config: async () => defaults };
  }
  try {
    const code = await runHookKind(ctx, kind, version, extra);
    // After each hook the apt.conf.d file and the metrics follow the fallback.
    if ((await ctx.config()).enabled) await refreshAndReport(ctx);
    return code;
  } catch (err) {
    // postinst is read-only and only ever informs: it never stops an update, whatever ON_ERROR says.
    if (kind !== 'postinst' && (await fails())) throw err;
    const message = err instanceof KbackupError ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`;
    ctx.world.log.warn(`${message} (the kernel update goes on: ON_ERROR=warn)`);
    return 0;
  }
}

function runHookKind(ctx: CommandContext, kind: HookKind, version: string, extra: string | undefined): Promise<number> {
  switch (kind) {
    case 'preinst':
      return runHookPreinst(ctx, version);
    case 'postinst':
      return runHookPostinst(ctx, version);
    case 'prerm':
      return runHookPrerm(ctx, version);
    case 'postrm':
      return runHookPostrm(ctx, version);
    case 'initramfs':
      if (!extra) throw new ConfigError('hook initramfs needs VERSION and the INITRD path, as update-initramfs passes them');
      return runHookInitramfs(ctx, version, extra);
  }
}
