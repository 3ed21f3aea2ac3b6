// Initrd health on Debian 13 (trixie); the tests are in initrd-health.cases.ts.
import { initrdHealthTests } from './initrd-health.cases';

initrdHealthTests('trixie', ['zstd']);
