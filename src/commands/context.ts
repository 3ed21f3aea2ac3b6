// What every command gets: the world, a way to write to stdout, and the configuration (read lazily
// so `--help` and `--version` never touch the disk).
import type { Config } from '../core/model/config';
import { loadConfig } from '../core/ops/state';
import type { World } from '../core/world';

export interface CommandContext {
  world: World;
  /** Standard output: only a command's result (tables, JSON). Progress goes to world.log (stderr). */
  out(text: string): void;
  config(): Promise<Config>;
  /** Whether a person can be asked (stdin and stderr are terminals). */
  interactive: boolean;
  ask(question: string): Promise<string>;
}

export function makeContext(
  world: World,
  io: { out(text: string): void; interactive: boolean; ask(q: string): Promise<string> },
  options: { configExplicit?: boolean } = {},
): CommandContext {
  let config: Promise<Config> | undefined;
  return {
    world,
    out: io.out,
    interactive: io.interactive,
    ask: io.ask,
    // The default file may be absent (a removed package's hooks); a file named with --config may not.
    config: () => (config ??= loadConfig(world, { mustExist: options.configExplicit })),
  };
}
