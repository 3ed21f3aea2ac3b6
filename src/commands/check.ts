// `kbackup check` and the postinst hook's summary.
import { evaluateCheck, gatherCheckFacts, type CheckOptions } from '../core/check';
import { readState } from '../core/engine';
import { assertSafeVersion } from '../core/names';
import type { Problem } from '../core/problems';
import { freeBytes } from '../core/space';
import type { CommandContext } from './context';
import { initrdHealthProblems } from './initrd-check';

export interface CheckReport {
  ok: boolean;
  /** The ordering the installed 10_linux uses; "dpkg" (Debian 12's) when it is absent or not recognised. */
  flavour: 'dpkg' | 'sort-v';
  predictedOrder: string[];
  defaultEntry: string | null;
  problems: Problem[];
}

export async function buildCheckReport(ctx: CommandContext, options: CheckOptions = {}): Promise<CheckReport> {
  const config = await ctx.config();
  const state = await readState(ctx.world, config);
  const free = await freeBytes(state.paths.boot).catch(() => undefined);
  const facts = await gatherCheckFacts(state, free, options);
  const problems = [...evaluateCheck(state, config, facts), ...(await initrdHealthProblems(ctx, state, options))];
  return {
    ok: problems.every((p) => p.severity !== 'error'),
    flavour: facts.flavour ?? 'dpkg',
    predictedOrder: facts.predicted.map((k) => k.image),
    defaultEntry: facts.grubCfg?.defaultLinux ?? facts.predicted[0]?.image ?? null,
    problems,
  };
}

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
  const report = await buildCheckReport(ctx);
  ctx.out(json ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report));
  return report.ok ? 0 : 1;
}

/** After update-grub: read-only, prints to stderr, never fails the kernel update. */
export async function runHookPostinst(ctx: CommandContext, version: string): Promise<number> {
  assertSafeVersion(version);
  const config = await ctx.config();
  if (!config.enabled) return 0;
  const report = await buildCheckReport(ctx, { version });
  for (const p of report.problems) {
    if (p.severity === 'error') ctx.world.log.warn(`${p.code}: ${p.message}`);
    else ctx.world.log.info(`${p.code}: ${p.message}`);
  }
  if (report.ok) ctx.world.log.info(`check after installing ${version}: GRUB boots ${report.defaultEntry ?? 'nothing'} by default; no problems found`);
  else ctx.world.log.warn(`check after installing ${version} found problems; run kbackup check for details`);
  return 0;
}
