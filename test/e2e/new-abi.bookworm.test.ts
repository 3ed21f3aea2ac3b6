// The new-ABI update path on Debian 12 (bookworm); the tests are in new-abi.cases.ts.
import { newAbiTests } from './new-abi.cases';

newAbiTests('bookworm');
