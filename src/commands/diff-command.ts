// `kbackup diff [ID]`: a live initrd against a backup set's (src/commands/diff.ts does the work).
import type { CommandContext } from './context';
import { runDiff } from './diff';

export async function runDiffCommand(ctx: CommandContext, id: string | undefined, json: boolean): Promise<number> {
  const { exitCode, output } = await runDiff(ctx.world, { id, json });
  ctx.out(output);
  return exitCode;
}
