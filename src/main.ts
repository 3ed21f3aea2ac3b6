// The entry point: builds the real world, runs the CLI, and is the only place that turns errors
// into exit codes and text.
import { join } from 'node:path';
import * as readline from 'node:readline/promises';
import { version } from '../package.json';
import type { GlobalOptions } from './cli';
import { EXIT, InternalError, KbackupError, UsageError } from './core/model/errors';

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
    import('./world'),
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
    makeContext(realWorld({ root: g.root, configPath: g.config, log: stderrLogger(g.verbose ? 'verbose' : g.quiet ? 'quiet' : 'normal') }), io, {
      configExplicit: g.config !== undefined,
    });
  try {
    await buildCli(argv, context, (c) => (code = c)).parseAsync();
    return code;
  } catch (err) {
    const { hookShouldFail } = await import('./core/ops/state');
    if (err instanceof UsageError && commandOf(argv) === 'hook' && !(await hookShouldFail({ configPath: hookConfigPath(argv) }))) {
      // dpkg's run-parts must not stop a kernel update over a hook's command line.
      process.stderr.write(`kbackup: warning: ${err.message} (the kernel update goes on: ON_ERROR=warn)\n`);
      return EXIT.ok;
    }
    if (err instanceof KbackupError && !(err instanceof InternalError)) {
      process.stderr.write(`kbackup: ${err.message}\n`);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    process.stderr.write(`kbackup: internal error (a bug; please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.runtime;
  }
}

/** The command word, past the global options and their values. */
function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root' || a === '--config') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** The configuration file a hook would have read, found from a command line yargs refused. */
function hookConfigPath(argv: readonly string[]): string {
  const valueOf = (name: string) => {
    const i = argv.indexOf(name);
    if (i >= 0) return argv[i + 1];
    return argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  };
  return valueOf('--config') ?? join(valueOf('--root') ?? '/', 'etc/default/kbackup');
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
