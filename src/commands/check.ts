// `kbackup check` and the postinst hook's summary.
import { check, type CheckReport } from '../core/ops/check';
import { EXIT } from '../core/model/errors';
import { assertSafeVersion } from '../core/model/names';
import { problem } from '../core/model/problems';
import { nagiosLine, NAGIOS_EXIT } from '../core/model/fallback';
import type { CommandContext } from './context';
import { armFromHook } from './trial';
import { renderProblems } from './render';

export function renderCheck(report: CheckReport): string {
  const lines: string[] = [];
  const [first, ...below] = report.predictedOrder;
  const backups = below.filter((p) => p.includes('~~backup')).length;
  const live = below.length - backups;
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  lines.push(
    first
      ? `update-grub (${report.flavour} ordering) lists ${first} first` +
          (report.defaultEntry && report.defaultEntry !== first ? `; grub.cfg boots ${report.defaultEntry} by default` : '') +
          `; below it: ${count(live, 'live kernel')} and ${count(backups, 'backup')}`
      : 'no kernels in /boot',
  );
  for (const p of report.problems) lines.push(`${p.severity}: ${p.code}: ${p.message}`);
  lines.push(report.ok ? 'ok' : 'problems found');
  return `${lines.join('\n')}\n`;
}

export async function runCheck(ctx: CommandContext, format: 'text' | 'json' | 'nagios'): Promise<number> {
  if (format === 'nagios') return runCheckNagios(ctx);
  const json = format === 'json';
  // A broken configuration is itself a problem to report: a monitoring script still gets its JSON,
  // and the rest is checked with the settings that could be read.
  const { config, problems } = await ctx.configLenient();
  const report = await check(ctx.world, config);
  if (problems.length > 0) {
    report.problems.unshift(...problems.map((p) => problem('config-invalid', `${p.message}; fix that line (until then hooks delete no backups)`)));
    report.ok = false;
  }
  ctx.out(json ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report));
  return problems.length > 0 ? EXIT.usage : report.ok ? EXIT.ok : EXIT.problems;
}

/** `check --nagios`: one plugin line; a check that cannot run at all is UNKNOWN (3), as plugins say. */
async function runCheckNagios(ctx: CommandContext): Promise<number> {
  try {
    const { config, problems } = await ctx.configLenient();
    const report = await check(ctx.world, config);
    report.problems.unshift(...problems.map((p) => problem('config-invalid', p.message)));
    const perf = { backupSets: report.backupSets, fallback: report.problems.some((p) => p.code === 'fallback-running' || p.code === 'trial-failed') };
    const { line, code } = nagiosLine(report.problems, report.bootFreeBytes === null ? perf : { ...perf, bootFreeBytes: report.bootFreeBytes });
    ctx.out(`${line}\n`);
    return code;
  } catch (err) {
    ctx.out(`KBACKUP UNKNOWN - ${(err as Error).message.split('\n')[0]}\n`);
    return NAGIOS_EXIT.unknown;
  }
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
