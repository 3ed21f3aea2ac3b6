// Initrd health on Debian 12 (bookworm); the tests are in initrd-health.cases.ts.
import { initrdHealthTests } from './initrd-health.cases';

initrdHealthTests('bookworm', ['zstd', 'gzip']);
