// kbackup's package life cycle on Debian 12 (bookworm); the tests are in package-cycle.cases.ts.
import { packageCycleTests } from './package-cycle.cases';

packageCycleTests('bookworm');
