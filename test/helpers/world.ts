// A World for the in-process tier: a temp root, a clock the test sets, captured log lines, and no
// programs (exec answers "not installed" unless a test passes its own).
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecResult, World } from '../../src/core/world';

export interface TestWorld extends World {
  /** Every log line, prefixed with its level: `info: …`, `warn: …`, `debug: …`. */
  logs: string[];
  /** Moves the clock (the next backup's timestamp). */
  setNow(iso: string): void;
}

export const notInstalled = async (file: string): Promise<ExecResult> => ({ code: 127, stdout: '', stderr: `${file}: ENOENT` });

export function testWorld(
  root: string,
  options: { now?: string; env?: Record<string, string>; exec?: World['exec'] } = {},
): TestWorld {
  let now = new Date(options.now ?? '2026-11-22T20:40:00Z');
  const logs: string[] = [];
  return {
    root,
    configPath: path.join(root, 'etc/default/kbackup'),
    now: () => now,
    setNow: (iso) => {
      now = new Date(iso);
    },
    uname: () => '6.1.0-18-amd64',
    log: { info: (m) => logs.push(`info: ${m}`), warn: (m) => logs.push(`warn: ${m}`), error: (m) => logs.push(`error: ${m}`), debug: (m) => logs.push(`debug: ${m}`) },
    logs,
    env: options.env ?? {},
    exec: options.exec ?? notInstalled,
    // No /proc or /sys to read: the temp root is not the running system anyway.
    machine: { proc: path.join(root, 'no-proc'), sys: path.join(root, 'no-sys'), modules: [] },
    tmpdir: os.tmpdir(),
  };
}
