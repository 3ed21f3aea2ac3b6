// Text for people. Plans render the same way for --dry-run and for a real run.
import type { Problem } from '../core/model/problems';
import type { BackupPlan, DeleteSet } from '../core/model/plan';
import { humanSize } from '../core/model/size';
import type { CommandContext } from './context';

/** `newSet`: a new set is made by the same run, and the keep policy's deletions wait for it. */
export function renderDeletes(deletes: readonly DeleteSet[], dryRun: boolean, newSet = false): string[] {
  const verb = dryRun ? 'would remove' : 'removed';
  const why = { space: 'to make room', purge: 'kernel purged', keep: 'beyond KEEP', incomplete: 'incomplete: cannot boot' } as const;
  return deletes.map((d) => `${verb} ${d.id} (${why[d.why]}${newSet && d.phase === 'after' && d.why === 'keep' && dryRun ? ', once the new set is made' : ''}): ${d.names.join(' ')}`);
}

/** In the order a run does it: deletions to make room, the copies, then the keep policy's deletions. */
export function renderBackupPlan(plan: BackupPlan, dryRun: boolean): string[] {
  const newSet = plan.id !== undefined && !plan.skip;
  const lines = renderDeletes(
    plan.deletes.filter((d) => d.phase === 'before'),
    dryRun,
    newSet,
  );
  const after = renderDeletes(
    plan.deletes.filter((d) => d.phase !== 'before'),
    dryRun,
    newSet,
  );
  if (plan.skip) {
    lines.push(`${dryRun ? 'would skip' : 'skipped'} the backup of ${plan.version}: ${plan.skip.message}`, ...after);
    return lines;
  }
  const verb = dryRun ? 'would copy' : 'copied';
  for (const c of plan.copies) lines.push(`${verb} ${c.from} -> ${c.to} (${humanSize(c.size)})`);
  lines.push(
    `${dryRun ? 'would make' : 'made'} backup set ${plan.id} (${humanSize(plan.space.needed)}; ${humanSize(plan.space.free)} free before, ` +
      `${humanSize(plan.space.minFree)} kept as the MIN_FREE_MB reserve)`,
    ...after,
  );
  return lines;
}

/** A hook's problems on stderr, each labelled as `check` labels it (error: or warning:). */
export function renderProblems(ctx: CommandContext, problems: readonly Problem[]): void {
  for (const p of problems) {
    if (p.severity === 'error') ctx.world.log.error(`${p.code}: ${p.message}`);
    else ctx.world.log.warn(`${p.code}: ${p.message}`);
  }
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
