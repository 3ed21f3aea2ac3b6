// What grub.cfg boots: its menu entries, grubenv, and the entry GRUB starts by default. Pure: no fs;
// the check reads /boot/grub/grub.cfg and grubenv and passes their text in (what update-grub will
// list is menu-order.ts).

export interface MenuEntry {
  kind: 'entry';
  title: string;
  /** `--id` / `$menuentry_id_option`; GRUB uses the title when there is none. */
  id?: string;
  /** Kernel path from the first `linux`/`linuxefi`/`linux16` line, as written (relative to GRUB's root). */
  linux?: string;
  linuxArgs: string[];
  initrds: string[];
  /** Index path: [2] is top-level entry 2, [1, 0] the first entry of the submenu at 1. */
  position: number[];
  /** Inside an `if` in grub.cfg, so it may not exist at boot (e.g. UEFI firmware settings). */
  conditional: boolean;
  line: number;
}

export interface Submenu {
  kind: 'submenu';
  title: string;
  id?: string;
  children: MenuNode[];
  position: number[];
  conditional: boolean;
  line: number;
}

export type MenuNode = MenuEntry | Submenu;

export interface GrubMenu {
  entries: MenuNode[];
  /** The value `set default=` gives when no one-time next_entry is pending, variables unexpanded. */
  default?: string;
  /** GRUB_DEFAULT=saved: the default is `${saved_entry}` from grubenv. */
  defaultIsSaved: boolean;
  /** grub.cfg runs `load_env`, so grubenv's variables (saved_entry, next_entry) count. */
  loadsEnv: boolean;
  /** 00_header's `if [ "${next_entry}" ]` branch (grub-reboot) is present. */
  honoursNextEntry: boolean;
  /** 10_linux's rewrites of pre-2.00 titles used as GRUB_DEFAULT. */
  titleCorrections: { from: string; to: string }[];
  /**
   * kbackup's /etc/grub.d/08_kbackup is in (TRIAL_BOOT=yes): at boot it replaces the default with
   * grubenv's kbackup_trial_entry (armed) or kbackup_good_entry (booting, failed).
   */
  trialLogic: boolean;
}

/** A word of GRUB script: literal text and variable references. */
type Segment = { text: string } | { variable: string };
interface Word {
  segments: Segment[];
}

function wordLiteral(word: Word): string {
  return word.segments.map((s) => ('text' in s ? s.text : `\${${s.variable}}`)).join('');
}

/** Splits one line of GRUB script into commands (at unquoted `;`) of words. */
function tokenizeLine(line: string): Word[][] {
  const commands: Word[][] = [];
  let words: Word[] = [];
  let segments: Segment[] | undefined;
  let text = '';
  const flushText = () => {
    if (text !== '') (segments ??= []).push({ text });
    text = '';
  };
  const endWord = () => {
    flushText();
    if (segments) words.push({ segments });
    segments = undefined;
  };
  const readVariable = (i: number): { name: string; next: number } | undefined => {
    if (line[i + 1] === '{') {
      const close = line.indexOf('}', i + 2);
      if (close < 0) return undefined;
      return { name: line.slice(i + 2, close), next: close + 1 };
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9#?*@]/.exec(line.slice(i + 1));
    return m ? { name: m[0], next: i + 1 + m[0].length } : undefined;
  };
  let i = 0;
  /** At a `$`, quoted or not: a variable reference, or a literal dollar sign. */
  const takeDollar = () => {
    const v = readVariable(i);
    if (v) {
      flushText();
      (segments ??= []).push({ variable: v.name });
      i = v.next;
    } else {
      text += '$';
      i++;
    }
  };
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      endWord();
      i++;
    } else if (c === ';') {
      endWord();
      commands.push(words);
      words = [];
      i++;
    } else if (c === '#' && segments === undefined && text === '') {
      break;
    } else if (c === "'") {
      segments ??= [];
      const close = line.indexOf("'", i + 1);
      const end = close < 0 ? line.length : close;
      text += line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      segments ??= [];
      i++;
      while (i < line.length && line[i] !== '"') {
        const d = line[i]!;
        if (d === '\\' && i + 1 < line.length && '$"\\\n'.includes(line[i + 1]!)) {
          text += line[i + 1];
          i += 2;
        } else if (d === '$') {
          takeDollar();
        } else {
          text += d;
          i++;
        }
      }
      i++;
    } else if (c === '\\') {
      segments ??= [];
      if (i + 1 < line.length) text += line[i + 1];
      i += 2;
    } else if (c === '$') {
      segments ??= [];
      takeDollar();
    } else {
      segments ??= [];
      text += c;
      i++;
    }
  }
  endWord();
  commands.push(words);
  return commands.filter((cmd) => cmd.length > 0);
}

const OPTIONS_WITH_ARGUMENT = new Set(['--class', '--users', '--hotkey', '--id', '--source']);

function parseMenuHeader(words: Word[]): { title: string; id?: string } | undefined {
  let title: string | undefined;
  let id: string | undefined;
  // words[0] is menuentry/submenu, the last is "{".
  for (let k = 1; k < words.length - 1; k++) {
    const literal = wordLiteral(words[k]!);
    // `$menuentry_id_option` is "--id" whenever GRUB supports ids (feature_menuentry_id, 2.00+).
    const option = literal === '${menuentry_id_option}' ? '--id' : literal;
    if (OPTIONS_WITH_ARGUMENT.has(option)) {
      const value = words[k + 1];
      if (option === '--id' && value && k + 1 < words.length - 1) id = wordLiteral(value);
      k++;
    } else if (option.startsWith('--')) {
      continue; // --unrestricted and other flags
    } else if (title === undefined) {
      title = literal;
    }
  }
  if (title === undefined) return undefined;
  return id === undefined ? { title } : { title, id };
}

const TITLE_CORRECTION = /if \[ "x\$default" = '((?:[^']|'\\'')*)' \]; then default='((?:[^']|'\\'')*)'; fi;/g;
const unquoteGrub = (s: string) => s.replace(/'\\''/g, "'");

interface Frame {
  kind: 'entry' | 'submenu' | 'other';
  node?: MenuNode;
  conditionalDepth: number;
}

/** Menu entries and submenus of a grub.cfg in order, and how it picks its default. */
export function parseGrubCfg(text: string): GrubMenu {
  const menu: GrubMenu = {
    entries: [],
    defaultIsSaved: false,
    loadsEnv: false,
    honoursNextEntry: false,
    titleCorrections: [],
    trialLogic: false,
  };
  const frames: Frame[] = [];
  let conditionalDepth = 0;
  let defaultWord: Word | undefined;

  const siblings = (): MenuNode[] => {
    for (let k = frames.length - 1; k >= 0; k--) {
      const node = frames[k]!.node;
      if (node?.kind === 'submenu') return node.children;
    }
    return menu.entries;
  };
  const parentPosition = (): number[] => {
    for (let k = frames.length - 1; k >= 0; k--) {
      const node = frames[k]!.node;
      if (node?.kind === 'submenu') return node.position;
    }
    return [];
  };
  const currentEntry = (): MenuEntry | undefined => {
    const node = frames[frames.length - 1]?.node;
    return node?.kind === 'entry' ? node : undefined;
  };

  const lines = text.split('\n');
  lines.forEach((rawLine, index) => {
    const lineNumber = index + 1;
    for (const m of rawLine.matchAll(TITLE_CORRECTION)) {
      menu.titleCorrections.push({ from: unquoteGrub(m[1]!), to: unquoteGrub(m[2]!) });
    }
    for (const words of tokenizeLine(rawLine)) {
      const first = wordLiteral(words[0]!);
      const last = wordLiteral(words[words.length - 1]!);
      if ((first === 'menuentry' || first === 'submenu') && last === '{') {
        const header = parseMenuHeader(words);
        const list = siblings();
        const position = [...parentPosition(), list.length];
        const conditional = conditionalDepth > 0 || frames.some((f) => f.conditionalDepth > 0);
        const base = { title: header?.title ?? '', position, conditional, line: lineNumber };
        const node: MenuNode =
          first === 'menuentry'
            ? { kind: 'entry', ...base, linuxArgs: [], initrds: [] }
            : { kind: 'submenu', ...base, children: [] };
        if (header?.id !== undefined) node.id = header.id;
        list.push(node);
        frames.push({ kind: node.kind, node, conditionalDepth });
        conditionalDepth = 0;
        continue;
      }
      if (first === '}' && words.length === 1) {
        const frame = frames.pop();
        if (frame) conditionalDepth = frame.conditionalDepth;
        continue;
      }
      if (last === '{' && words.length >= 2) {
        frames.push({ kind: 'other', conditionalDepth });
        conditionalDepth = 0;
        continue;
      }
      if (first === 'if') conditionalDepth++;
      if (first === 'fi' && conditionalDepth > 0) conditionalDepth--;
      const command = first === 'then' || first === 'else' ? words.slice(1) : words;
      const name = command[0] ? wordLiteral(command[0]) : '';
      const entry = currentEntry();
      if (entry && /^linux(efi|16)?$/.test(name) && entry.linux === undefined && command[1]) {
        entry.linux = wordLiteral(command[1]);
        entry.linuxArgs = command.slice(2).map(wordLiteral);
      } else if (entry && /^initrd(efi|16)?$/.test(name)) {
        entry.initrds = command.slice(1).map(wordLiteral);
      } else if (name === 'load_env') {
        menu.loadsEnv = true;
      } else if (name === 'set' && command[1] && wordLiteral(command[1]).startsWith('default=')) {
        const value = command[1];
        const segments = [...value.segments];
        // Strip "default=" from the front of the word's first literal segment.
        const head = segments[0];
        if (head && 'text' in head) segments[0] = { text: head.text.slice('default='.length) };
        const word = { segments: segments.filter((s) => !('text' in s) || s.text !== '') };
        if (wordLiteral(word) === '${next_entry}') menu.honoursNextEntry = true;
        else if (word.segments.some((seg) => 'variable' in seg && seg.variable.startsWith('kbackup_'))) menu.trialLogic = true;
        else if (frames.length === 0) defaultWord = word;
      }
    }
  });
  if (defaultWord) {
    menu.default = wordLiteral(defaultWord);
    menu.defaultIsSaved = defaultWord.segments.some((s) => 'variable' in s && s.variable === 'saved_entry');
  }
  return menu;
}

/**
 * The file name a grub.cfg `linux`/`initrd` path refers to. Those paths are relative to the
 * filesystem GRUB reads (`/vmlinuz-V` when /boot is its own partition, `/boot/vmlinuz-V`, or
 * `/@/boot/vmlinuz-V` on btrfs, maybe after a `(hd0,gpt2)` device), so compare names, not paths.
 */
export function grubPathBasename(grubPath: string): string {
  const withoutDevice = grubPath.replace(/^\([^)]*\)/, '');
  return withoutDevice.slice(withoutDevice.lastIndexOf('/') + 1);
}

// ---------------------------------------------------------------------------------------------
// grubenv

export const GRUBENV_SIGNATURE = '# GRUB Environment Block\n';
export const GRUBENV_SIZE = 1024;

export interface Grubenv {
  vars: Map<string, string>;
  /** Why GRUB's load_env would reject or misread the block, if it would. */
  problem?: string;
}

/** grub_envblk_iterate: `name=value` lines after the signature, `#` lines skipped, `\` escapes. */
export function parseGrubenv(text: string): Grubenv {
  const vars = new Map<string, string>();
  if (!text.startsWith(GRUBENV_SIGNATURE)) {
    return { vars, problem: 'it does not start with "# GRUB Environment Block", so GRUB ignores it' };
  }
  const size = Buffer.byteLength(text, 'utf8');
  let p = GRUBENV_SIGNATURE.length;
  const end = text.length;
  const nextLine = (q: number) => {
    const nl = text.indexOf('\n', q);
    return nl < 0 ? end : nl + 1;
  };
  let broken = false;
  while (p < end) {
    if (text[p] === '#') {
      p = nextLine(p);
      continue;
    }
    const eq = text.indexOf('=', p);
    if (eq < 0) {
      broken = true;
      break;
    }
    const name = text.slice(p, eq);
    let q = eq + 1;
    let value = '';
    while (q < end && text[q] !== '\n') {
      if (text[q] === '\\') q++;
      if (q < end) value += text[q];
      q++;
    }
    if (q >= end) {
      broken = true;
      break;
    }
    vars.set(name, value);
    p = nextLine(q);
  }
  const result: Grubenv = { vars };
  if (broken) result.problem = 'its last line is cut off, so GRUB stops reading there';
  else if (size !== GRUBENV_SIZE) result.problem = `it is ${size} bytes, not ${GRUBENV_SIZE} (grub-editenv keeps it padded)`;
  return result;
}

// ---------------------------------------------------------------------------------------------
// The default entry, as GRUB resolves `default` (grub-core/normal/menu.c)

/** grub_strtoul(s, 0, 0): leading blanks, 0x hex, 0 octal; undefined when no digit is read. */
function grubStrtoul(s: string): number | undefined {
  let i = 0;
  while (i < s.length && ' \t\n\r\f\v'.includes(s[i]!)) i++;
  let base = 10;
  if (s[i] === '0' && s[i + 1] === 'x') {
    base = 16;
    i += 2;
  } else if (s[i] === '0' && s[i + 1] !== undefined && s[i + 1]! >= '0' && s[i + 1]! <= '7') {
    base = 8;
  }
  let value = 0;
  let found = false;
  for (; i < s.length; i++) {
    const digit = parseInt(s[i]!, 36);
    if (Number.isNaN(digit) || digit >= base) break;
    value = value * base + digit;
    found = true;
  }
  return found ? value : undefined;
}

/** menuentry_eq: SPEC names ID if they agree up to an unescaped ">" in SPEC (">>" is a literal ">"). */
function menuentryEq(id: string, spec: string): boolean {
  let i = 0;
  let j = 0;
  for (;;) {
    if (spec[j] === '>' && spec[j + 1] !== '>' && i === id.length) return true;
    if (spec[j] === '>' && spec[j + 1] !== '>') return false;
    if (spec[j] === '>') j++;
    if (id[i] !== spec[j]) return false;
    if (i === id.length) return true;
    i++;
    j++;
  }
}

/** What `default` becomes inside a submenu GRUB enters: the text after the first unescaped ">". */
function specRemainder(spec: string): string | undefined {
  for (let k = 0; k < spec.length; k++) {
    if (spec[k] === '>' && spec[k + 1] === '>') {
      k++;
      continue;
    }
    if (spec[k] === '>') return k + 1 < spec.length ? spec.slice(k + 1) : undefined;
  }
  return undefined;
}

function entryNumber(nodes: readonly MenuNode[], spec: string | undefined): number {
  if (spec === undefined) return -1;
  const n = grubStrtoul(spec);
  if (n !== undefined) return n > 0x7fffffff ? -1 : n;
  return nodes.findIndex((node) => menuentryEq(node.title, spec) || menuentryEq(node.id ?? node.title, spec));
}

export interface DefaultEntry {
  entry?: MenuEntry;
  /** How GRUB got there, for a person: the setting, its value and the entry's place. */
  how: string;
  /** Set when GRUB falls back to entry 0 or cannot boot anything by default. */
  problem?: string;
}

function describe(node: MenuNode): string {
  return `${node.position.join('>')} "${node.title}"`;
}

/** The entry GRUB boots when nobody touches the keyboard, resolving GRUB_DEFAULT like GRUB does. */
export function resolveDefaultEntry(menu: GrubMenu, grubenvText?: string, options: { ignoreTrial?: boolean } = {}): DefaultEntry {
  const problems: string[] = [];
  let vars = new Map<string, string>();
  if (menu.loadsEnv && grubenvText !== undefined && grubenvText.length > 0) {
    const env = parseGrubenv(grubenvText);
    if (env.problem) problems.push(`grubenv: ${env.problem}`);
    vars = env.vars;
  }
  // 00_header restores prev_saved_entry into saved_entry only after `set default=` has read it,
  // so it changes the default from the next boot on, not this one.

  let spec: string | undefined;
  let how: string;
  const nextEntry = vars.get('next_entry');
  // 08_kbackup runs after 00_header, so a trial's entry wins over next_entry and GRUB_DEFAULT.
  const trial = menu.trialLogic && !options.ignoreTrial ? vars.get('kbackup_trial') : undefined;
  const trialSpec = trial === 'armed' ? vars.get('kbackup_trial_entry') : trial === 'booting' || trial === 'failed' ? vars.get('kbackup_good_entry') : undefined;
  if (trialSpec) {
    spec = trialSpec;
    how =
      trial === 'armed'
        ? `kbackup_trial=armed in grubenv: the trial entry "${trialSpec}", this boot only`
        : `kbackup_trial=${trial} in grubenv: the known-good entry "${trialSpec}"${trial === 'booting' ? ' (the trial started but never reached its boot record)' : ''}`;
  } else if (menu.honoursNextEntry && nextEntry) {
    spec = nextEntry;
    how = `next_entry="${nextEntry}" in grubenv (grub-reboot, this boot only)`;
  } else if (menu.default !== undefined) {
    spec = menu.default.replace(/\$\{([^}]*)\}/g, (_, name: string) => vars.get(name) ?? '');
    how = menu.defaultIsSaved
      ? `GRUB_DEFAULT=saved, saved_entry="${vars.get('saved_entry') ?? ''}"`
      : `default="${menu.default}"`;
  } else {
    how = 'no default set';
  }
  for (const fix of menu.titleCorrections) {
    if (spec === fix.from) {
      spec = fix.to;
      how += ` (old title rewritten to "${fix.to}")`;
      break;
    }
  }

  let nodes: readonly MenuNode[] = menu.entries;
  let current = spec;
  for (;;) {
    if (nodes.length === 0) {
      problems.push('the menu has no entries to boot');
      return { how, problem: problems.join('; ') };
    }
    let index = entryNumber(nodes, current);
    if (index < 0 || index >= nodes.length) {
      if (current !== undefined && current !== '') {
        problems.push(`"${current}" matches no menu entry, so GRUB boots entry 0 instead`);
      }
      index = 0;
    }
    const node = nodes[index]!;
    if (node.conditional) problems.push(`${describe(node)} is inside an "if" and may not exist at boot`);
    if (node.kind === 'entry') {
      const result: DefaultEntry = { entry: node, how: `${how} → ${describe(node)}` };
      if (problems.length > 0) result.problem = problems.join('; ');
      return result;
    }
    how += ` → submenu ${describe(node)}`;
    current = current === undefined ? undefined : specRemainder(current);
    nodes = node.children;
  }
}
