// kbackup's initrd reader against the release's own tools over real images; the tests are in initrd-differential.cases.ts.
import { initrdDifferentialTests } from './initrd-differential.cases';

initrdDifferentialTests('trixie');
