// Reads /etc/default/kbackup (the parser is model/config.ts).
import * as fs from 'node:fs/promises';
import { DEFAULT_CONFIG, parseConfig, saysOnErrorFail, type Config } from '../model/config';
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
 * The ON_ERROR policy: whether a failing hook should fail the kernel update. From the parsed
 * configuration when it reads, else from a plain `ON_ERROR=fail` line in the file (see saysOnErrorFail).
 */
export async function onErrorFails(file: string, config?: () => Promise<Config>): Promise<boolean> {
  if (config) {
    try {
      return (await config()).onError === 'fail';
    } catch {
      // broken file: fall through to the plain reading
    }
  }
  return saysOnErrorFail(await fs.readFile(file, 'utf8').catch(() => ''));
}
