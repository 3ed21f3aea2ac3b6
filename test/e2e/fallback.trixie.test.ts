// The fallback kernel kept and seen on Debian 13 (trixie); the tests are in fallback.cases.ts.
import { fallbackTests } from './fallback.cases';

fallbackTests('trixie');
