// Seam between `check` and the initrd health module (src/core/initrd*.ts).
import type { CheckOptions } from '../core/check';
import type { State } from '../core/engine';
import type { Problem } from '../core/problems';
import type { CommandContext } from './context';

export async function initrdHealthProblems(_ctx: CommandContext, _state: State, _options: CheckOptions): Promise<Problem[]> {
  return [];
}
