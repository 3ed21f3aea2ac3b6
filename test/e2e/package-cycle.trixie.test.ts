// kbackup's package life cycle on Debian 13 (trixie); the tests are in package-cycle.cases.ts.
import { packageCycleTests } from './package-cycle.cases';

packageCycleTests('trixie');
