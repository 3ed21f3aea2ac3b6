// Trial boot verdict with systemd as PID 1 under real GRUB (EFI) on Debian 12 (bookworm); the tests
// are in trial-boot-systemd.cases.ts.
import { trialBootSystemdTests } from './trial-boot-systemd.cases';

trialBootSystemdTests('bookworm');
