// `kbackup diff [ID] [--json]`: renders ops/diff.ts's report of a live initrd against a backup's.
import type { CommandContext } from './context';
import { diff, type DiffReport, type DiffSide } from '../core/ops/diff';
import type { World } from '../core/world';
import { mib } from '../core/model/size';

const HUMAN_LIST_MAX = 20;

function names(list: readonly string[]): string {
  if (list.length <= HUMAN_LIST_MAX) return list.join(', ');
  return `${list.slice(0, HUMAN_LIST_MAX).join(', ')} … and ${list.length - HUMAN_LIST_MAX} more (--json lists all)`;
}

function depText(s: DiffSide): string {
  const sizes = Object.values(s.modulesDep);
  if (sizes.length === 0) return 'no lib/modules';
  return sizes.map((b) => (b === null ? 'modules.dep missing' : `modules.dep ${b} bytes`)).join(', ');
}

export function renderDiff(r: DiffReport): string {
  const lines: string[] = [];
  lines.push(`live:   ${r.live.path}`);
  lines.push(`backup: ${r.backup.path} (${r.backup.id})`);
  for (const [label, s] of [
    ['live', r.live],
    ['backup', r.backup],
  ] as const) {
    lines.push(
      s.error !== null
        ? `  ${label}: unreadable: ${s.error}`
        : `  ${label}: ${s.moduleFiles} module files, ${depText(s)}, ${s.size === null ? '?' : mib(s.size)} ${s.compression ?? ''}`.trimEnd(),
    );
  }
  if (r.live.error === null && r.backup.error === null) {
    const delta = r.live.moduleFiles - r.backup.moduleFiles;
    lines.push(`modules: ${r.backup.moduleFiles} → ${r.live.moduleFiles} (${delta >= 0 ? '+' : ''}${delta})`);
    if (r.modules.added.length > 0) lines.push(`  added (${r.modules.added.length}): ${names(r.modules.added)}`);
    if (r.modules.removed.length > 0) lines.push(`  removed (${r.modules.removed.length}): ${names(r.modules.removed)}`);
    const configChanges = r.configs.changed.length + r.configs.added.length + r.configs.removed.length;
    lines.push(configChanges === 0 ? 'config files: unchanged' : 'config files:');
    for (const p of r.configs.changed) lines.push(`  changed: ${p}`);
    for (const p of r.configs.added) lines.push(`  added:   ${p}`);
    for (const p of r.configs.removed) lines.push(`  removed: ${p}`);
  }
  for (const p of r.problems) lines.push(`${p.severity}: ${p.code}: ${p.message}`);
  return `${lines.join('\n')}\n`;
}

/**
 * What `kbackup diff [ID] [--json]` prints. Throws UsageError for an ID that names no backup; otherwise
 * returns the text for stdout and the exit code (1 when the pair has an error-severity problem).
 */
export async function runDiff(world: World, args: { id?: string | undefined; json: boolean }): Promise<{ exitCode: number; output: string }> {
  const report = await diff(world, args.id);
  return { exitCode: report.ok ? 0 : 1, output: args.json ? `${JSON.stringify(report, null, 2)}\n` : renderDiff(report) };
}

export async function runDiffCommand(ctx: CommandContext, id: string | undefined, json: boolean): Promise<number> {
  const { exitCode, output } = await runDiff(ctx.world, { id, json });
  ctx.out(output);
  return exitCode;
}
