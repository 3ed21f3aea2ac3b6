// The entry point: builds the real world, runs the CLI, and is the only place that turns errors
// into exit codes and text.
import { join } from 'node:path';
import * as readline from 'node:readline/promises';
import { version } from '../package.json';
import type { GlobalOptions } from './cli';
import { EXIT, InternalError, KbackupError, UsageError } from './core/model/errors';

export async function main(argvIn: readonly string[]): Promise<number> {
  // `kbackup snapshot -- VERSION`: yargs keeps words after `--` out of a command's positionals.
  // kbackup's positionals (VERSION, ID, KIND, paths) are plain words, so a `--` before plain words
  // is dropped; one before a word starting with "-" stays, and that word is refused as a VERSION.
  const dashes = argvIn.indexOf('--');
  const argv = dashes >= 0 && argvIn.slice(dashes + 1).every((a) => !a.startsWith('-')) ? [...argvIn.slice(0, dashes), ...argvIn.slice(dashes + 1)] : argvIn;
  // `kbackup --version` is what scripts and the package's own checks call most: answer it without
  // evaluating yargs and the commands (measured in bench/startup.sh against `node -e 0`).
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`${version}\n`);
    return EXIT.ok;
  }
  const [{ buildCli }, { commandOf }, { makeContext }, { realWorld, showInside, stderrLogger }] = await Promise.all([
    import('./cli'),
    import('./cli-errors'),
    import('./commands/context'),
    import('./world'),
  ]);
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  let code: number = EXIT.ok;
  // Every path kbackup prints is shown as seen inside --root, in human and JSON output alike.
  let shown = (text: string) => text;
  let wroteOut = false;
  // A --json command that fails still prints JSON on stdout (unless it already printed its answer).
  const json = argv.includes('--json') || argv.some((a, i) => (a === '--format' && argv[i + 1] === 'json') || a === '--format=json');
  const jsonError = (code: string, message: string) => {
    if (json && !wroteOut) process.stdout.write(`${JSON.stringify({ ok: false, error: { code, message: shown(message) } }, null, 2)}\n`);
  };
  const io = {
    out: (text: string) => {
      wroteOut = true;
      return process.stdout.write(shown(text));
    },
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
  const context = (g: GlobalOptions) => {
    shown = showInside(g.root);
    return makeContext(realWorld({ root: g.root, configPath: g.config, log: stderrLogger(g.verbose ? 'verbose' : g.quiet ? 'quiet' : 'normal', shown) }), io, {
      configExplicit: g.config !== undefined,
    });
  };
  try {
    await buildCli(argv, context, (c) => (code = c)).parseAsync();
    return code;
  } catch (err) {
    const { hookShouldFail } = await import('./core/ops/state');
    if (err instanceof UsageError && commandOf(argv) === 'hook' && !(await hookShouldFail({ configPath: hookConfigPath(argv) }))) {
      // dpkg's run-parts must not stop a kernel update over a hook's command line.
      process.stderr.write(shown(`kbackup: warning: ${err.message} (the kernel update goes on: ON_ERROR=warn)\n`));
      return EXIT.ok;
    }
    if (err instanceof KbackupError && !(err instanceof InternalError)) {
      jsonError(err.code, err.message);
      process.stderr.write(shown(`kbackup: ${err.message}\n`));
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    jsonError('internal', `internal error (a bug; please report it): ${(err as Error)?.message ?? String(err)}`);
    process.stderr.write(`kbackup: internal error (a bug; please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.runtime;
  }
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
