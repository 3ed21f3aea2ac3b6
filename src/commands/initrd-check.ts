// check's initrd section: each live initrd against the newest backup of its version and the
// drivers the root filesystem needs (src/core/initrd*.ts).
import type { CheckOptions } from '../core/check';
import type { State } from '../core/engine';
import { initrdProblemsFor } from '../core/initrd';
import type { Problem } from '../core/problems';
import type { CommandContext } from './context';

export async function initrdHealthProblems(ctx: CommandContext, state: State, options: CheckOptions): Promise<Problem[]> {
  const versions = [...state.model.live.values()]
    .filter((live) => live.files.has('initrd.img') && (!options.version || live.version === options.version))
    .map((live) => live.version)
    .sort();
  return initrdProblemsFor(ctx.world, versions);
}
