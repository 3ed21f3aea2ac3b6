// The same-name kernel update cycle on Debian 13 (trixie); the tests are in kernel-update.cases.ts.
import { kernelUpdateTests } from './kernel-update.cases';

kernelUpdateTests('trixie');
