// `kbackup check` and the postinst hook's summary.
import { check, type CheckReport } from '../core/ops/check';
import { assertSafeVersion } from '../core/model/names';
import type { CommandContext } from './context';
import { armFromHook } from './trial';
import { renderProblems } from './render';

export function renderCheck(report: CheckReport): string {
  const lines: string[] = [];
  const backups = report.predictedOrder.filter((p) => p.includes('~~backup')).length;
  const first = report.predictedOrder[0];
  lines.push(
    first
      ? `update-grub (${report.flavour} ordering) lists ${first} first` +
          (report.defaultEntry && report.defaultEntry !== first ? `; grub.cfg boots ${report.defaultEntry} by default` : '') +
          `; ${backups} backup(s) below it`
      : 'no kernels in /boot',
  );
  for (const p of report.problems) lines.push(`${p.severity}: ${p.code}: ${p.message}`);
  lines.push(report.ok ? 'ok' : 'problems found');
  return `${lines.join('\n')}\n`;
}

export async function runCheck(ctx: CommandContext, json: boolean): Promise<number> {
  const report = await check(ctx.world, await ctx.config());
  ctx.out(json ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report));
  return report.ok ? 0 : 1;
}

/** After update-grub: read-only, prints to stderr, never fails the kernel update. */
export async function runHookPostinst(ctx: CommandContext, version: string): Promise<number> {
  assertSafeVersion(version);
  const config = await ctx.config();
  if (!config.enabled) return 0;
  const report = await check(ctx.world, config, { version });
  renderProblems(ctx, report.problems);
  if (report.ok) ctx.world.log.info(`check after installing ${version}: GRUB boots ${report.defaultEntry ?? 'nothing'} by default; no problems found`);
  else ctx.world.log.warn(`check after installing ${version} found problems; run kbackup check for details`);
  await armFromHook(ctx, config, 'postinst');
  return 0;
}
