// Text for people. Plans render the same way for --dry-run and for a real run.
import type { Problem } from '../core/model/problems';
import type { BackupPlan, DeleteSet } from '../core/model/plan';
import { mib } from '../core/model/size';
import type { CommandContext } from './context';

export function renderDeletes(deletes: readonly DeleteSet[], dryRun: boolean): string[] {
  const verb = dryRun ? 'would remove' : 'removed';
  const why = { space: 'to make room', purge: 'kernel purged', keep: 'beyond KEEP', incomplete: 'incomplete: cannot boot' } as const;
  return deletes.map((d) => `${verb} ${d.id} (${why[d.why]}${d.phase === 'after' && d.why === 'keep' && dryRun ? ', once the new set is made' : ''}): ${d.names.join(' ')}`);
}

export function renderBackupPlan(plan: BackupPlan, dryRun: boolean): string[] {
  const lines = renderDeletes(plan.deletes, dryRun);
  if (plan.skip) {
    lines.push(`${dryRun ? 'would skip' : 'skipped'} the backup of ${plan.version}: ${plan.skip.message}`);
    return lines;
  }
  const verb = dryRun ? 'would copy' : 'copied';
  for (const c of plan.copies) lines.push(`${verb} ${c.from} -> ${c.to} (${mib(c.size)})`);
  lines.push(
    `${dryRun ? 'would make' : 'made'} backup set ${plan.id} (${mib(plan.space.needed)}; ${mib(plan.space.free)} free before, ${mib(plan.space.minFree)} kept free)`,
  );
  return lines;
}

/** A hook's problems on stderr: errors as warnings, the rest as information. */
export function renderProblems(ctx: CommandContext, problems: readonly Problem[]): void {
  for (const p of problems) {
    if (p.severity === 'error') ctx.world.log.warn(`${p.code}: ${p.message}`);
    else ctx.world.log.info(`${p.code}: ${p.message}`);
  }
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
