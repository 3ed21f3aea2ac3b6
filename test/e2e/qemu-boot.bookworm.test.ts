// A backed-up kernel and initrd boot under qemu on Debian 12 (bookworm); the test is in qemu-boot.cases.ts.
import { qemuBootTests } from './qemu-boot.cases';

qemuBootTests('bookworm');
