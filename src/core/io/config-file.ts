// Reads /etc/default/kbackup (the parser is model/config.ts).
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { DEFAULT_CONFIG, parseConfig, parseConfigLenient, type Config } from '../model/config';
import { ConfigError, errnoOf } from '../model/errors';

/**
 * The file's text. Opened without blocking and read only when it is a regular file: a FIFO put
 * there must never hang a kernel update. Anything that is not a readable file is a ConfigError,
 * so a hook answers it as ON_ERROR says (warn: the defaults, and nothing deleted) rather than
 * stopping the update with a runtime failure.
 */
async function readConfigFile(file: string): Promise<string> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') throw err;
    const why = code === 'ELOOP' ? 'a symbolic link loop' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? String(err));
    throw new ConfigError(`cannot read ${file} (${why}); make it a readable file of KEY=value lines (kbackup(8))`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      const what = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a regular file';
      throw new ConfigError(`cannot read ${file}: it is ${what}; make it a readable file of KEY=value lines (kbackup(8))`);
    }
    return await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read ${file} (${errnoOf(err) ?? String(err)}); make it a readable file of KEY=value lines (kbackup(8))`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * Reads the configuration. A missing file means the defaults (the package may be removed but its
 * shims still run); an unreadable one is an error.
 */
export async function readConfig(file: string, options: { mustExist?: boolean } = {}): Promise<Config> {
  let text: string;
  try {
    text = await readConfigFile(file);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' && !options.mustExist) return { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] };
    if (errnoOf(err) === 'ENOENT') throw new ConfigError(`${file}: no such file`);
    throw err;
  }
  return parseConfig(text, file);
}

/**
 * Reads what can be read: the settings of every good line, and the bad lines as problems (see
 * parseConfigLenient). An unreadable file is still an error.
 */
export async function readConfigLenient(file: string, options: { mustExist?: boolean } = {}): Promise<{ config: Config; problems: ConfigError[] }> {
  let text: string;
  try {
    text = await readConfigFile(file);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' && !options.mustExist) return { config: { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] }, problems: [] };
    if (errnoOf(err) === 'ENOENT') throw new ConfigError(`${file}: no such file`);
    throw err;
  }
  const { config, problems } = parseConfigLenient(text, file);
  if (problems.length > 0) config.problems = problems.map((p) => p.message);
  return { config, problems };
}

/** The file's text however broken it is, or '' when it cannot be read (for ON_ERROR's fallback). */
export async function readConfigText(file: string): Promise<string> {
  return readConfigFile(file).catch(() => '');
}
