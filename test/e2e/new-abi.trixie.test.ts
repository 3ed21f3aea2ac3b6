// The new-ABI update path on Debian 13 (trixie); the tests are in new-abi.cases.ts.
import { newAbiTests } from './new-abi.cases';

newAbiTests('trixie');
