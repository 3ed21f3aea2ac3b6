// Trial boot under real GRUB (EFI) on Debian 13 (trixie); the tests are in trial-boot.cases.ts.
import { trialBootTests } from './trial-boot.cases';

trialBootTests('trixie');
