// The entry point: builds the real world, runs the CLI, and is the only place that turns errors
// into exit codes and text.
import * as readline from 'node:readline/promises';
import { version } from '../package.json';
import type { GlobalOptions } from './cli';
import { EXIT, InternalError, KbackupError } from './core/errors';

export async function main(argv: readonly string[]): Promise<number> {
  // `kbackup --version` is what scripts and the package's own checks call most: answer it without
  // evaluating yargs and the commands (measured in bench/startup.sh against `node -e 0`).
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`${version}\n`);
    return EXIT.ok;
  }
  const [{ buildCli }, { makeContext }, { realWorld, stderrLogger }] = await Promise.all([
    import('./cli'),
    import('./commands/context'),
    import('./core/world'),
  ]);
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  let code: number = EXIT.ok;
  const io = {
    out: (text: string) => process.stdout.write(text),
    interactive: !!process.stdin.isTTY && !!process.stderr.isTTY,
    ask: async (question: string) => {
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
  const context = (g: GlobalOptions) =>
    makeContext(realWorld({ root: g.root, configPath: g.config, log: stderrLogger(g.verbose ? 'verbose' : g.quiet ? 'quiet' : 'normal') }), io);
  try {
    await buildCli(argv, context, (c) => (code = c)).parseAsync();
    return code;
  } catch (err) {
    if (err instanceof KbackupError && !(err instanceof InternalError)) {
      process.stderr.write(`kbackup: ${err.message}\n`);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    process.stderr.write(`kbackup: internal error (a bug; please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.runtime;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`kbackup: ${String(err)}\n`);
    process.exitCode = EXIT.runtime;
  },
);
