// Placeholder entry point; the CLI is being written (see src/cli.ts once it exists).
import { version } from '../package.json';
if (process.argv.includes('--version')) process.stdout.write(`${version}\n`);
