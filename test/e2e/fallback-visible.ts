// What an admin and a fleet see after a fallback boot: the packaged login script's line and the
// node_exporter textfile (checked by the real promtool). Exported for the trial-boot e2e (after its
// failed-trial fallback boot, with files read from the VM's disk) and used by fallback.cases.ts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';

const MOTD_SCRIPT = path.join(__dirname, '../../packaging/update-motd.d/90-kbackup');
const MOTD_STATE = '/var/lib/kbackup/motd';
export const TEXTFILE = '/var/lib/prometheus/node-exporter/kbackup.prom';

/** The packaged /etc/update-motd.d/90-kbackup, run on the host against a copy of the root's state file. */
export function motdLine(readFile: (inside: string) => string | undefined): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-motd-'));
  try {
    const state = readFile(MOTD_STATE);
    const copy = path.join(dir, 'motd');
    if (state !== undefined) fs.writeFileSync(copy, state);
    const script = path.join(dir, '90-kbackup');
    fs.writeFileSync(script, fs.readFileSync(MOTD_SCRIPT, 'utf8').split(MOTD_STATE).join(copy), { mode: 0o755 });
    const out = spawnSync('sh', [script], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stderr).toBe('');
    return out.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** promtool check metrics on a textfile: its complaints, or '' when clean. */
export function promtoolComplaints(text: string): string {
  const out = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (out.error) throw new Error(`promtool is not installed (Debian package prometheus; packaging/deps.sh installs it): ${out.error.message}`);
  return out.status === 0 ? '' : `${out.stdout}${out.stderr}` || `exit ${out.status}`;
}

/**
 * After a boot that fell back to `running` (reason trial-failed or not-default): the login prints
 * one line naming it with the command to act, and the textfile says fallback active, passes
 * promtool, and shows the running kernel is the known-good.
 * `readFile` reads a file of the machine's root (a chroot's host path, or debugfs on a VM disk).
 */
export function expectFallbackVisible(readFile: (inside: string) => string | undefined, running: string, reason: 'trial-failed' | 'not-default' = 'trial-failed'): void {
  const line = motdLine(readFile);
  expect(line.split('\n').filter(Boolean), line).toHaveLength(1);
  expect(line).toContain(running);
  expect(line).toMatch(reason === 'trial-failed' ? /kbackup trial retry .* kbackup trial accept/ : /reboot to start the default/);
  const textfile = readFile(TEXTFILE);
  expect(textfile, `${TEXTFILE} (create /var/lib/prometheus/node-exporter before the boot)`).toBeDefined();
  expect(textfile).toContain(`kbackup_fallback_active{reason="${reason}"} 1\n`);
  expect(textfile).toMatch(new RegExp(`^kbackup_known_good_info\\{release="${running.replace(/[.+]/g, '\\$&')}",`, 'm'));
  expect(promtoolComplaints(textfile!)).toBe('');
}

/** The same after the admin acted (accept, retry, a promoted kernel): no login line, fallback 0. */
export function expectNoFallback(readFile: (inside: string) => string | undefined): void {
  expect(motdLine(readFile)).toBe('');
  const textfile = readFile(TEXTFILE);
  if (textfile !== undefined) expect(textfile).not.toMatch(/^kbackup_fallback_active\{[^}]*\} 1$/m);
}
