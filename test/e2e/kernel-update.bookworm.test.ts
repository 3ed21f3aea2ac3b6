// The same-name kernel update cycle on Debian 12 (bookworm); the tests are in kernel-update.cases.ts.
import { kernelUpdateTests } from './kernel-update.cases';

kernelUpdateTests('bookworm');
