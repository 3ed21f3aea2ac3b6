// Trial boot under real GRUB (EFI) on Debian 12 (bookworm); the tests are in trial-boot.cases.ts.
import { trialBootTests } from './trial-boot.cases';

trialBootTests('bookworm');
