// The command line: declares commands and options, and hands each to its command module.
import yargs, { type Argv } from 'yargs';
import { version as packageVersion } from '../package.json';
import { runSnapshot } from './commands/backup';
import { runCheck } from './commands/check';
import type { CommandContext } from './commands/context';
import { runDiffCommand } from './commands/diff';
import { HOOK_KINDS, runHook, type HookKind } from './commands/hook';
import { runAdopt, runConfigGet, runList, runPrune } from './commands/manage';
import { CONFIG_KEYS, type ConfigKey } from './core/model/config';
import { runRestore } from './commands/restore';
import { explainParseError } from './cli-errors';
import { runBootRecord, runStatus, runTrial, STATUS_FORMATS, TRIAL_COMMANDS, type StatusFormat, type TrialCommandName } from './commands/trial';
import { UsageError } from './core/model/errors';
import { rootIsDirectory } from './core/ops/state';

export interface GlobalOptions {
  root: string;
  config?: string;
  quiet: boolean;
  verbose: boolean;
}

/** Builds the parser. `makeContext` is called once the global options are known. */
export function buildCli(argv: readonly string[], makeContext: (g: GlobalOptions) => CommandContext, done: (code: number) => void): Argv {
  const run = (fn: (ctx: CommandContext, args: Record<string, unknown>) => Promise<number>) => async (args: Record<string, unknown>) => {
    // Words after `--` (kbackup snapshot -- VERSION) are the command's positionals too.
    const extra = (args._ as unknown[]).slice(1).map(String);
    if (extra.length > 0) {
      for (const key of ['kernelVersion', 'id'] as const) if (args[key] === undefined && extra.length > 0) args[key] = extra.shift();
    }
    for (const name of ['root', 'config'] as const) {
      if (Array.isArray(args[name])) throw new UsageError(`--${name} was given ${(args[name] as unknown[]).length} times; give it once`);
    }
    const ctx = makeContext({ root: args.root as string, config: args.config as string | undefined, quiet: !!args.quiet, verbose: !!args.verbose });
    // --root must name a directory: acting on a root that is not there would only create one. A hook
    // checks it itself, to answer as ON_ERROR says.
    if ((args._ as unknown[])[0] !== 'hook' && !(await rootIsDirectory(ctx.world))) throw new UsageError(`--root ${String(args.root)} is not a directory`);
    done(await fn(ctx, args));
  };
  const cli: Argv = yargs(argv as string[])
    .scriptName('kbackup')
    .usage(
      '$0 [--root DIR] [--config FILE] [-q|-v] <command> [options]\n\n' +
        'Keeps dated, GRUB-bootable copies of /boot/vmlinuz-VERSION and /boot/initrd.img-VERSION\n' +
        'across kernel updates that keep the package name, and checks what GRUB will boot.',
    )
    .option('root', {
      type: 'string',
      default: '/',
      describe: '--root DIR: act on DIR/boot, DIR/etc/default/kbackup and DIR/var/lib/kbackup, as dpkg --root does',
      requiresArg: true,
    })
    .option('config', { type: 'string', describe: '--config FILE: read the configuration from FILE (default DIR/etc/default/kbackup)', requiresArg: true })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'print only warnings and results' })
    .option('verbose', { alias: 'v', type: 'boolean', describe: 'print every file touched, and stacks on errors' })
    .conflicts('quiet', 'verbose')
    .command(
      'hook <kind> <kernel-version> [image]',
      'run by the kernel and initramfs hook scripts (preinst, postinst, postrm, initramfs)',
      (y) =>
        y
          .positional('kind', { choices: HOOK_KINDS, describe: 'which hook' })
          .positional('kernel-version', { type: 'string', describe: 'kernel version, e.g. 6.1.0-18-amd64' })
          .positional('image', { type: 'string', describe: 'kernel image path (initramfs: the initrd path)' }),
      run((ctx, a) => runHook(ctx, a.kind as HookKind, String(a.kernelVersion), a.image as string | undefined)),
    )
    .command(
      'snapshot [kernel-version]',
      'back up a kernel now (default: the running kernel)',
      (y) =>
        y
          .positional('kernel-version', { type: 'string', describe: 'kernel version to back up, e.g. 6.1.0-18-amd64 (default: the running kernel, uname -r)' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan only' }),
      run((ctx, a) => runSnapshot(ctx, a.kernelVersion as string | undefined, !!a.dryRun)),
    )
    .command(
      'list [kernel-version]',
      'list backup sets',
      (y) =>
        y
          .positional('kernel-version', { type: 'string', describe: 'only the sets of this kernel version, e.g. 6.1.0-18-amd64' })
          .option('json', { type: 'boolean', default: false, describe: 'print the sets as a JSON array (id, version, created, files, complete, verified)' }),
      run((ctx, a) => runList(ctx, a.kernelVersion as string | undefined, !!a.json)),
    )
    .command(
      'prune [kernel-version]',
      'remove the oldest backup sets beyond KEEP (of one kernel version, or of all), whole sets only',
      (y) =>
        y
          .positional('kernel-version', { type: 'string', describe: 'only this kernel version, e.g. 6.1.0-18-amd64' })
          .option('keep', { type: 'string', describe: '--keep N: sets to keep per kernel version, 0 to 99 (default: KEEP)', requiresArg: true })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan only' })
          .option('yes', {
            alias: 'y',
            type: 'boolean',
            default: false,
            describe: 'do not ask before removing every set of a version or the set GRUB boots by default',
          }),
      run((ctx, a) => runPrune(ctx, { keep: a.keep as string | undefined, dryRun: !!a.dryRun, yes: !!a.yes, version: a.kernelVersion as string | undefined })),
    )
    .command(
      'restore <id>',
      'put a backup set back as the live files (the live ones are backed up first), then run update-grub',
      (y) =>
        y
          .positional('id', { type: 'string', describe: 'set ID from kbackup list, e.g. 6.1.0-18-amd64~~backup202611222040' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan only' })
          .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'do not ask for confirmation' })
          .option('update-grub', {
            type: 'boolean',
            describe: 'run update-grub afterwards; --no-update-grub does not (default: it runs on /, not under --root)',
          }),
      run((ctx, a) => runRestore(ctx, { id: String(a.id), dryRun: !!a.dryRun, yes: !!a.yes, updateGrub: a.updateGrub as boolean | undefined })),
    )
    .command(
      'adopt',
      "rename the original script's vmlinuz-V~~backup… files to kbackup's names and record them",
      (y) => y.option('dry-run', { type: 'boolean', default: false, describe: 'print the plan only' }),
      run((ctx, a) => runAdopt(ctx, !!a.dryRun)),
    )
    .command(
      'check',
      'check GRUB ordering and default entry, backups, links, checksums, space and initrd health',
      (y) =>
        y
          .option('json', { type: 'boolean', default: false, describe: 'print one JSON object: ok, flavour, predictedOrder, defaultEntry, problems' })
          .option('nagios', { type: 'boolean', default: false, describe: 'print one Nagios plugin line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN' }),
      run((ctx, a) => runCheck(ctx, a.nagios ? 'nagios' : a.json ? 'json' : 'text')),
    )
    .command(
      'boot-record',
      'record the boot that just succeeded (run by kbackup-boot-record.service); promotes or fails a trial',
      (y) => y,
      run((ctx) => runBootRecord(ctx)),
    )
    .command(
      'trial [action]',
      'show, arm, cancel, accept or retry a trial boot of what GRUB boots by default (TRIAL_BOOT=yes)',
      (y) =>
        y
          .positional('action', { choices: TRIAL_COMMANDS, default: 'status' as const, describe: 'what to do' })
          .option('json', { type: 'boolean', default: false })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print what would change only (arm, cancel, accept, retry)' }),
      run((ctx, a) => runTrial(ctx, a.action as TrialCommandName, { json: !!a.json, dryRun: !!a.dryRun })),
    )
    .command(
      'status',
      'the known-good boot, the last boots, and the trial state in one sentence',
      (y) =>
        y
          .option('json', { type: 'boolean', default: false, describe: 'the same as --format json' })
          .option('format', { choices: STATUS_FORMATS, describe: 'text, json, or prometheus (node_exporter textfile format); wins over --json' }),
      run((ctx, a) => runStatus(ctx, (a.format as StatusFormat | undefined) ?? (a.json ? 'json' : 'text'))),
    )
    .command(
      'config <key>',
      'print the value kbackup uses for a configuration key, as its hooks read the file (for scripts: /etc/grub.d/08_kbackup asks it for TRIAL_BOOT)',
      (y) => y.positional('key', { choices: CONFIG_KEYS, describe: 'a key of /etc/default/kbackup' }),
      run((ctx, a) => runConfigGet(ctx, a.key as ConfigKey)),
    )
    .command(
      'diff [id]',
      'compare a live initrd with a backup set (default: the newest backup of the running kernel)',
      (y) =>
        y
          .positional('id', { type: 'string', describe: 'backup set ID from kbackup list (default: the newest backup of the running kernel)' })
          .option('json', { type: 'boolean', default: false, describe: 'print the comparison as JSON' }),
      run((ctx, a) => runDiffCommand(ctx, a.id as string | undefined, !!a.json)),
    )
    // Declared as a command of its own (not yargs' .completion(), which prints the script even for
    // `completion --help`); yargs still answers --get-yargs-completions, which the script calls.
    .command(
      'completion',
      'print the bash completion script (the package installs it in /usr/share/bash-completion/completions/kbackup)',
      (y) => y,
      (args) => {
        void args;
        cli.showCompletionScript();
        done(0);
      },
    )
    .demandCommand(1, 'name a command (kbackup --help lists them)')
    .recommendCommands()
    .strict()
    .version(packageVersion)
    .help()
    .alias('help', 'h')
    .showHelpOnFail(false)
    .wrap(process.stdout.isTTY ? Math.min(120, process.stdout.columns || 80) : null)
    .fail((msg, err) => {
      // yargs' own parse errors (YError) are usage errors; anything else is a command's error.
      if (err && err.name !== 'YError') throw err;
      throw new UsageError(explainParseError(err?.message ?? msg, argv));
    });
  return cli;
}
