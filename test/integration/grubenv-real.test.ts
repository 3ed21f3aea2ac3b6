// The grubenv writer against the real grub-editenv (grub-common): the same edits must give the
// same 1024 bytes, so GRUB's load_env/save_env read kbackup's block as they read their own.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGrubenv } from '../../src/core/model/grub/grub-cfg';
import { editGrubenv } from '../../src/core/model/grub/grubenv';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-grubenv-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function editenv(file: string, ...args: string[]): void {
  const r = spawnSync('grub-editenv', [file, ...args], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`grub-editenv ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
}

type Edit = [string, string | undefined];

/** Applies the edits with grub-editenv and with editGrubenv, from the same start. */
function both(edits: Edit[][], start?: string): { real: string; ours: string } {
  const file = path.join(dir, `env-${Math.random().toString(36).slice(2)}`);
  if (start === undefined) editenv(file, 'create');
  else fs.writeFileSync(file, start);
  let ours: string | undefined = start;
  for (const batch of edits) {
    const sets = batch.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    const unsets = batch.filter(([, v]) => v === undefined).map(([k]) => k);
    if (sets.length > 0) editenv(file, 'set', ...sets);
    if (unsets.length > 0) editenv(file, 'unset', ...unsets);
    // grub-editenv applies sets before unsets; so does one editGrubenv call per kind.
    ours = editGrubenv(ours, new Map(batch.filter(([, v]) => v !== undefined)));
    if (unsets.length > 0) ours = editGrubenv(ours, new Map(unsets.map((k) => [k, undefined])));
  }
  return { real: fs.readFileSync(file, 'latin1'), ours: ours! };
}

describe('grubenv format, against grub-editenv', () => {
  it('a new block with the four trial variables (submenu ids with ">")', () => {
    const { real, ours } = both([
      [
        ['kbackup_trial', 'armed'],
        ['kbackup_trial_entry', 'gnulinux-advanced-1234>gnulinux-6.12.0-9-amd64-advanced-1234'],
        ['kbackup_good_entry', 'gnulinux-advanced-1234>gnulinux-6.12.0-8-amd64-advanced-1234'],
        ['kbackup_trial_args', 'panic=10 rd.shell=0 rd.emergency=reboot'],
      ],
    ]);
    expect(real.length).toBe(1024);
    expect(ours).toBe(real);
  });

  it('keeps saved_entry and next_entry in place, replaces in place, and unsets', () => {
    const { real, ours } = both([
      [
        ['saved_entry', 'gnulinux-simple-1234'],
        ['next_entry', ''],
      ],
      [
        ['kbackup_trial', 'armed'],
        ['kbackup_trial_entry', 'a>b'],
      ],
      [['saved_entry', 'gnulinux-advanced-1234>gnulinux-6.1.0-18-amd64-advanced-1234']],
      [['kbackup_trial', 'failed']],
      [
        ['kbackup_trial', undefined],
        ['kbackup_trial_entry', undefined],
      ],
    ]);
    expect(ours).toBe(real);
    expect([...parseGrubenv(ours).vars.keys()]).toEqual(['saved_entry', 'next_entry']);
  });

  it('escapes backslashes and newlines as grub-editenv does, and reads them back', () => {
    const value = 'a\\b\nc';
    const { real, ours } = both([[['odd', value]]]);
    expect(ours).toBe(real);
    expect(parseGrubenv(ours).vars.get('odd')).toBe(value);
    expect(parseGrubenv(ours).problem).toBeUndefined();
  });

  it('edits a block that grub-editenv wrote, and grub-editenv lists what kbackup wrote', () => {
    const file = path.join(dir, 'roundtrip');
    editenv(file, 'create');
    editenv(file, 'set', 'saved_entry=0');
    const ours = editGrubenv(fs.readFileSync(file, 'latin1'), new Map([['kbackup_trial', 'armed']]));
    fs.writeFileSync(file, ours);
    const r = spawnSync('grub-editenv', [file, 'list'], { encoding: 'utf8' });
    expect(r.stdout).toBe('saved_entry=0\nkbackup_trial=armed\n');
  });

  it('refuses what does not fit in 1024 bytes, like grub-editenv', () => {
    const big = 'x'.repeat(1100);
    expect(() => editGrubenv(undefined, new Map([['big', big]]))).toThrow(/1024/);
    const file = path.join(dir, 'big');
    editenv(file, 'create');
    const r = spawnSync('grub-editenv', [file, 'set', `big=${big}`], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
});
