// The fallback kernel kept and seen on Debian 12 (bookworm); the tests are in fallback.cases.ts.
import { fallbackTests } from './fallback.cases';

fallbackTests('bookworm');
