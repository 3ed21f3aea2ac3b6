// yargs' own words ("Unknown arguments: dry-run, dryRun", "Not enough non-option arguments: got 0,
// need at least 1", "Invalid values: …") turned into one sentence that says what to type.
import { didYouMean } from './core/model/spelling';

export const GLOBAL_OPTIONS = ['root', 'config', 'quiet', 'verbose', 'help', 'version'] as const;

/** Each command's own options, for "did you mean" (test/integration/cli-messages.test.ts holds this to each command's --help). */
export const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  hook: [],
  snapshot: ['dry-run'],
  list: ['json'],
  prune: ['keep', 'dry-run', 'yes'],
  restore: ['dry-run', 'yes', 'update-grub', 'no-update-grub'],
  adopt: ['dry-run'],
  check: ['json', 'nagios'],
  diff: ['json'],
  config: [],
  completion: [],
};

/** The command word, past the global options and their values. */
export function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root' || a === '--config') i++;
    else if (a === '--') return argv[i + 1];
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

function choicesText(list: string): string[] {
  return [...list.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
}

/** One sentence for a parse error of `argv`; messages yargs did not write pass through unchanged. */
export function explainParseError(message: string, argv: readonly string[]): string {
  const command = commandOf(argv);
  const known = command !== undefined && command in COMMAND_OPTIONS;
  const label = known ? `kbackup ${command}` : 'kbackup';
  const help = known ? `kbackup ${command} --help` : 'kbackup --help';

  let m = /^Did you mean (\S+)\?$/.exec(message);
  if (m) return `there is no command "${command}"; did you mean ${m[1]}? (kbackup --help lists the commands)`;

  m = /^Unknown arguments?: (.*)$/s.exec(message);
  if (m) {
    const names = m[1]!.split(', ').map((n) => n.replace(/^"(.*)"$/, '$1'));
    // yargs names an unknown --dry-run twice, also as dryRun.
    const first = names.find((n) => !/[A-Z]/.test(n) || !names.includes(n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))) ?? names[0]!;
    const asOption = argv.find((a) => a === `--${first}` || a.startsWith(`--${first}=`) || a === `--no-${first}`) ??
      (first.length === 1 ? argv.find((a) => /^-[A-Za-z]+$/.test(a) && a.includes(first)) : undefined);
    if (!known && first === command) return `there is no command "${first}" (kbackup --help lists the commands)`;
    if (asOption !== undefined) {
      const dashes = first.length === 1 ? '-' : '--';
      const meant = didYouMean([...(known ? COMMAND_OPTIONS[command!]! : []), ...GLOBAL_OPTIONS], first);
      return `${label} has no ${dashes}${first} option${meant ? `; did you mean --${meant}?` : ''} (${help} lists its options)`;
    }
    return `${label} takes no argument "${first}" (${help} shows what it takes)`;
  }

  if (/^Not enough non-option arguments/.test(message)) {
    if (command === 'restore') return 'restore needs the ID of a backup set, e.g. kbackup restore 6.1.0-18-amd64~~backup202611222040 (kbackup list shows them)';
    if (command === 'hook') return 'hook needs the hook kind and the kernel version, as the hook scripts pass them: kbackup hook preinst|postinst|postrm|initramfs VERSION [IMAGE]';
    return 'name a command (kbackup --help lists them)';
  }

  m = /^Invalid values:\s*Argument: (\S+), Given: (.*), Choices: (.*)$/s.exec(message.trim());
  if (m) {
    const given = choicesText(m[2]!)[0] ?? m[2]!;
    const choices = choicesText(m[3]!);
    const what = m[1] === 'kind' ? 'a hook kind' : `a valid ${m[1]}`;
    const meant = didYouMean(choices, given);
    return `"${given}" is not ${what}${meant ? `; did you mean ${meant}?` : ''} (one of: ${choices.join(', ')})`;
  }

  m = /^Not enough arguments following: (\S+)$/.exec(message);
  if (m) {
    const value = { root: 'DIR', config: 'FILE', keep: 'N' }[m[1]!] ?? 'a value';
    return `--${m[1]} needs ${value === 'a value' ? value : `a value: --${m[1]} ${value}`}`;
  }

  m = /^Arguments (\S+) and (\S+) are mutually exclusive$/.exec(message);
  if (m) return `--${m[1]} and --${m[2]} cannot be used together; choose one`;

  return message;
}
