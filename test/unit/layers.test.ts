// The layers of src/ (README "Layout"): model is pure, io is the only code that touches the machine,
// ops use io and model, commands use ops and model, and nothing climbs back up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '../../src');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every module a file imports (static, dynamic and type-only), as written. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/g)) found.push(m[1]!);
  for (const m of text.matchAll(/\b(?:import|require)\(\s*'([^']+)'\s*\)/g)) found.push(m[1]!);
  return found;
}

/** The layer a resolved import lands in, or the package name for a bare one. */
function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  const rel = path.relative(SRC, path.resolve(path.dirname(file), spec));
  const [top, second] = rel.split(path.sep);
  return top === 'core' && second !== undefined && ['model', 'io', 'ops'].includes(second) ? `core/${second}` : (top ?? rel);
}

/** Node's built-ins, with or without the node: prefix, that reach the machine. */
const MACHINE_MODULES = /^(node:)?(fs|fs\/promises|child_process|os|process|net|dgram|cluster|worker_threads|path|crypto|readline)$/;

function violations(dir: string, allowed: (target: string, spec: string) => boolean): string[] {
  return tsFiles(path.join(SRC, dir)).flatMap((file) =>
    importsOf(file)
      .filter((spec) => !allowed(target(file, spec), spec))
      .map((spec) => `${path.relative(SRC, file)} imports ${spec}`),
  );
}

describe('layers', () => {
  it('finds the imports it checks (the scanner itself works)', () => {
    const scan = tsFiles(path.join(SRC, 'core/io')).flatMap(importsOf);
    expect(scan).toContain('node:fs/promises');
    expect(scan.some((s) => s.startsWith('../model/'))).toBe(true);
  });

  it('core/model is pure: no node: module, no package, nothing from io, ops or commands', () => {
    expect(violations('core/model', (t, spec) => spec.startsWith('.') && (t === 'core/model' || t === 'core'))).toEqual([]);
  });

  it('core/model imports nothing that touches the machine', () => {
    expect(violations('core/model', (_t, spec) => !MACHINE_MODULES.test(spec) && !spec.startsWith('node:'))).toEqual([]);
  });

  it('core/io uses only model and node, never ops or commands', () => {
    expect(violations('core/io', (t) => !['core/ops', 'commands', 'cli.ts', 'main.ts', 'world.ts'].includes(t))).toEqual([]);
  });

  it('core/ops never imports commands, the CLI or the real world', () => {
    expect(violations('core/ops', (t) => !['commands', 'cli.ts', 'main.ts', 'world.ts'].includes(t))).toEqual([]);
  });

  it('cli.ts only declares the command line: no fs, no child processes, no io', () => {
    const file = path.join(SRC, 'cli.ts');
    const bad = importsOf(file).filter((spec) => MACHINE_MODULES.test(spec) || target(file, spec) === 'core/io');
    expect(bad).toEqual([]);
  });

  it('commands use ops and model only: no fs, no child processes, no io', () => {
    expect(
      violations('commands', (t, spec) => !MACHINE_MODULES.test(spec) && t !== 'core/io' && !['cli.ts', 'main.ts', 'world.ts'].includes(t)),
    ).toEqual([]);
  });
});
