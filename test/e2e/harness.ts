// Real-Debian harness for the e2e tier: Debian 12 and 13 chroots with real dpkg, real kernel
// packages from the archive, real initramfs-tools (or dracut) and the real update-grub, with kbackup
// installed from dist/. The code lives in harness/, one file per concern; this file re-exports it.
//
//   harness/host.ts    host processes (hostRun, hostMustRun), sha256File, logging, mounts, run
//                      directories and cleanup after crashed runs, cross-process locks, tarballs
//   harness/apt.ts     suites and pockets, the machine's mirror, a private apt per suite+pocket,
//                      kernelDebs / newAbiPair (archive kernels, cached in .cache/e2e/debs)
//   harness/debs.ts    extractFromDeb, repackDeb, buildKernelUpdate, findKbackupDeb
//   harness/images.ts  the cached base and kernel tarballs, createChroot
//   harness/chroot.ts  the Chroot class
//   harness/grub.ts    reading grub.cfg, the spec's backup names
//   harness/qemu.ts    booting a kernel + initrd under qemu, a root disk image to boot into
//
// API (all paths "inside" are paths as seen in the chroot; `chroot.host(p)` maps them to the host):
//
//   const c = await createChroot({ suite: 'trixie', label: 'my-test' });  // fresh tree, mounts, kernel, kbackup
//       options: suite 'bookworm' (default) | 'trixie'; kernel: false | { flavour, pocket } (default:
//       the suite's point-release linux-image-amd64); initramfs: 'initramfs-tools' (default) | 'dracut';
//       kbackup: false (then c.installKbackup() or c.installDeb())
//   afterAll(() => c.dispose());                           // unmounts everything, deletes the tree
//   await c.run('update-initramfs -u', { env: { X: '1' } })  -> { code, stdout, stderr } (never throws)
//   await c.mustRun('…')                                   -> same, but throws with the output on code ≠ 0
//   c.suite, c.initramfs, c.kernel   the installed kernel: { version, packageVersion, imagePackage, suite, pocket, … }
//   await c.kernelUpdate()      builds the next same-name update (+kbtestN) of c.kernel and dpkg -i's it
//   await c.archiveKernel('security'), c.installKernel(k)   the new-ABI update: another package beside the old
//   await c.installDeb(hostPath, …) copies a .deb in and runs dpkg -i (returns the RunResult)
//   await c.updateGrub()        runs the real update-grub; returns grub.cfg's text
//   await c.kbackup('list --json')  runs /usr/sbin/kbackup inside the chroot
//   c.writeConfig('KEEP=4\n')       writes /etc/default/kbackup
//   c.bootFiles()               { name: { sha256, size, mode, mtimeMs } } for every regular file in /boot
//   c.sha256('/boot/…'), c.exists(p), c.readFile(p), c.writeFile(p, data, mode?)
//   grubLinuxPaths(cfgText) / grubEntries(cfgText)   the image paths (and initrds) in grub.cfg order
//   c.packageVersion('kbackup')  the installed version, '' when not installed
//   c.host('/boot/x')            the host path of a chroot path; c.work is a scratch dir next to the root
//   kernelDebs('amd64' | 'cloud-amd64', { suite, pocket })   the cached archive .debs of a kernel flavour
//   newAbiPair(suite)                                 { old, new }: point release vs security, two ABIs
//   buildKernelUpdate(n) / repackDeb(src, version)   re-packed .debs (cached under .cache/e2e/debs)
//   extractFromDeb(deb, '/boot/x', hostDest)         one file out of a .deb
//   findKbackupDeb()                                 dist/kbackup_*.deb, if `npm run deb` made one
//   backupNamePattern(stem, version), backupSuffixes(names, version)   the spec's backup names
//   bootQemu({ kernel, initrd, disk?, append, until }), makeRootDisk(c, file), rootAppend()
//   hostRun(file, args), sha256File(hostPath)        host-side helpers
//
// kbackup comes from dist/kbackup_*.deb when present (CI: npm run build && npm run deb && npm test),
// else dist/kbackup plus the hooks/ shims and packaging/kbackup.default copied where the .deb puts
// them (the .deb is built on Debian 12 and installed as is on Debian 13 too). The chroot has no node:
// the single executable must run on its own. Commands run with a clean environment (PATH,
// LANG=C.UTF-8, HOME, DEBIAN_FRONTEND=noninteractive; add with { env }).
//
// Caches (under <repo>/.cache/e2e, git-ignored): see harness/images.ts and harness/apt.ts. Chroots
// live in .cache/e2e/run/<pid>-<label>-<random>; a run whose pid is dead is a crashed one: its mounts
// are unmounted and its tree removed before a new chroot is made (never one of a live process:
// another vitest may be running at the same time).
export * from './harness/apt';
export * from './harness/chroot';
export * from './harness/debs';
export * from './harness/grub';
export * from './harness/host';
export * from './harness/images';
export * from './harness/qemu';
