// Reads /etc/default/kbackup (the parser is model/config.ts).
import * as fs from 'node:fs/promises';
import { DEFAULT_CONFIG, parseConfig, parseConfigLenient, type Config } from '../model/config';
import { ConfigError, errnoOf, ioError } from '../model/errors';

/**
 * Reads the configuration. A missing file means the defaults (the package may be removed but its
 * shims still run); an unreadable one is an error.
 */
export async function readConfig(file: string, options: { mustExist?: boolean } = {}): Promise<Config> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' && !options.mustExist) return { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] };
    if (errnoOf(err) === 'ENOENT') throw new ConfigError(`${file}: no such file`);
    throw ioError(`cannot read ${file}`, err);
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
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' && !options.mustExist) return { config: { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] }, problems: [] };
    if (errnoOf(err) === 'ENOENT') throw new ConfigError(`${file}: no such file`);
    throw ioError(`cannot read ${file}`, err);
  }
  const { config, problems } = parseConfigLenient(text, file);
  if (problems.length > 0) config.problems = problems.map((p) => p.message);
  return { config, problems };
}

/** The file's text however broken it is, or '' when it cannot be read (for ON_ERROR's fallback). */
export async function readConfigText(file: string): Promise<string> {
  return fs.readFile(file, 'utf8').catch(() => '');
}
