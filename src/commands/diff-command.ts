// Seam between the CLI and the initrd diff (src/commands/diff.ts, being written).
import { UsageError } from '../core/errors';
import type { CommandContext } from './context';

export async function runDiffCommand(_ctx: CommandContext, _id: string | undefined, _json: boolean): Promise<number> {
  throw new UsageError('kbackup diff is not available in this build yet');
}
