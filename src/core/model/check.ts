// `kbackup check`'s rules: does what GRUB will boot, and what it can fall back to, still make sense?
// ops/check.ts reads the facts once; evaluateCheck (pure) decides; the command renders.
import type { BootModel, BootScan } from './boot-model';
import { minFreeBytes, type Config } from './config';
import { grubPathBasename } from './grub/grub-cfg';
import type { GrubFlavour, GrubKernel } from './grub/menu-order';
import { manifestSet, type Manifest, type ManifestState } from './manifest';
import { parseBootName } from './names';
import { compareDebianVersions } from './version';
import { problem, type Problem } from './problems';
import { humanSize } from './size';
import { createInitrdCommand, pruneVersionCommand } from './advice';

/** Problem codes `check` can report (stable; see kbackup(8)). */
export const CHECK_CODES = [
  'backup-is-default',
  'grub-default-is-backup',
  'grub-default-unresolved',
  'grub-cfg-stale',
  'grub-not-found',
  'grub-flavour-unknown',
  'live-missing-initrd',
  'backup-missing-initrd',
  'backup-missing-kernel',
  'legacy-backup',
  'link-dangling',
  'link-points-at-backup',
  'manifest-mismatch',
  'manifest-missing',
  'manifest-corrupt',
  'backup-unrecorded',
  'boot-space-low',
  'temp-files-left',
  'config-invalid',
  'trial-failed',
  'trial-armed',
  'trial-booting',
  'trial-unavailable',
  'fallback-running',
  'known-good-modules-removed',
  'boot-unhealthy',
  'boots-unreadable',
] as const;

/** The links linux-base keeps, in / or (link_in_boot) in /boot. */
export const KERNEL_LINKS = ['vmlinuz', 'vmlinuz.old', 'initrd.img', 'initrd.img.old', 'vmlinux', 'vmlinux.old'] as const;

export interface LinkFact {
  /** Path as seen inside the root, e.g. /vmlinuz.old. */
  path: string;
  target: string;
  /** The target's path inside the root, resolved. */
  resolved: string;
  exists: boolean;
}

export interface CheckFacts {
  flavour?: GrubFlavour;
  grubScriptsFound: boolean;
  predicted: GrubKernel[];
  grubCfg?: { linuxPaths: string[]; defaultLinux?: string; defaultHow: string; defaultProblem?: string };
  links: LinkFact[];
  /** Files whose sha256 no longer matches the manifest. */
  mismatches: { id: string; name: string; why: string }[];
  freeBytes?: number;
  /** The trial boot, as ops/trial.ts describes it. */
  trial?: { state: 'none' | 'armed' | 'booting' | 'failed'; sentence: string; unavailable: string | null; unhealthy?: { sentence: string } | null };
}

export interface CheckOptions {
  /** Limit checksum and initrd work to one kernel version (the postinst hook). */
  version?: string;
}

/** What check knows of /boot and the manifest (a part of ops' State). */
export interface CheckState {
  model: BootModel;
  manifest: Manifest;
  manifestState: ManifestState;
  manifestProblem?: string;
  /** boots.json (or a copy of it set aside) cannot be read: the known-good is not known for sure. */
  bootsProblem?: string;
  stems: string[];
  scan: Pick<BootScan, 'temps'>;
}

function isBackupPath(p: string, stems: readonly string[]): boolean {
  const parsed = parseBootName(p.slice(p.lastIndexOf('/') + 1), stems);
  return parsed !== undefined && parsed.kind !== 'live';
}

/** Decides the problems from what was read. Pure. */
export function evaluateCheck(state: CheckState, config: Config, facts: CheckFacts): Problem[] {
  const problems: Problem[] = [];
  const { stems, model } = state;
  const first = facts.predicted[0];

  if (!facts.grubScriptsFound) {
    problems.push(problem('grub-not-found', 'GRUB\'s /etc/grub.d/10_linux is not installed; the order shown is what Debian 12\'s update-grub would produce', 'warning'));
  }
  if (facts.grubScriptsFound && !facts.flavour) {
    problems.push(problem('grub-flavour-unknown', "the installed /etc/grub.d/10_linux sorts kernels in a way kbackup does not recognise; the order shown is what Debian 12's would produce", 'warning'));
  }
  if (first && isBackupPath(first.image, stems)) {
    const version = parseBootName(first.image.slice(first.image.lastIndexOf('/') + 1), stems)!.version;
    const fix = model.live.has(version)
      ? `reinstall the kernel package of ${version} (apt install --reinstall linux-image-${version})`
      : `its kernel is no longer installed: ${pruneVersionCommand(version)} removes its backups, or reinstall linux-image-${version}`;
    problems.push(problem('backup-is-default', `update-grub would make the backup ${first.image} the default entry, above every live kernel; ${fix}, then run update-grub`));
  }
  for (const live of model.live.values()) {
    const image = live.files.get('vmlinuz') ?? live.files.get('vmlinux');
    if (image && !live.files.has('initrd.img')) {
      problems.push(
        problem(
          'live-missing-initrd',
          `/boot/${image.name} has no initrd (/boot/initrd.img-${live.version} is missing), so its GRUB entry would boot without one and most likely fail; ` +
            `run ${createInitrdCommand(live.version)}`,
        ),
      );
    }
  }
  if (facts.grubCfg) {
    const def = facts.grubCfg.defaultLinux;
    // During a failed trial GRUB starts the known-good on purpose (often a backup set): trial-failed
    // says what to do (retry or accept), and GRUB_DEFAULT advice would be wrong next to it.
    if (def && isBackupPath(def, stems) && facts.trial?.state !== 'failed') {
      const how = facts.grubCfg.defaultHow;
      const fix = how.startsWith('GRUB_DEFAULT=saved')
        ? 'run grub-set-default 0 to boot the first entry (the newest live kernel) by default'
        : how.startsWith('next_entry')
          ? 'run grub-editenv /boot/grub/grubenv unset next_entry to boot the usual default instead'
          : 'set GRUB_DEFAULT=0 in /etc/default/grub and run update-grub';
      problems.push(problem('grub-default-is-backup', `grub.cfg boots the backup ${def} by default (${how}); ${fix}`));
    }
    if (facts.grubCfg.defaultProblem) {
      problems.push(problem('grub-default-unresolved', `grub.cfg's default entry: ${facts.grubCfg.defaultProblem}`, 'warning'));
    }
    // grub.cfg's paths are relative to GRUB's root device (/vmlinuz-V with a separate /boot,
    // /@/boot/… on btrfs), so the orders are compared by file name.
    const cfgKernels = [...new Set(facts.grubCfg.linuxPaths.map(grubPathBasename))];
    const predictedOrder = facts.predicted.map((k) => grubPathBasename(k.image));
    if (cfgKernels.join('\n') !== predictedOrder.join('\n')) {
      problems.push(problem('grub-cfg-stale', 'grub.cfg does not list the kernels now in /boot in the order update-grub would; run update-grub', 'warning'));
    }
  }
  for (const k of facts.predicted) {
    if (isBackupPath(k.image, stems) && !k.initrd) {
      const set = parseBootName(k.image.slice(k.image.lastIndexOf('/') + 1), stems);
      problems.push(
        problem(
          'backup-missing-initrd',
          `the backup ${k.image} has no initrd GRUB would find, so its menu entry would boot without one; ` +
            `kbackup prune${set ? ` ${set.version}` : ''} removes incomplete sets`,
        ),
      );
    }
  }
  for (const set of model.sets) {
    if (!set.files.has('vmlinuz') && set.files.has('initrd.img')) {
      problems.push(problem('backup-missing-kernel', `backup set ${set.id} has an initrd but no kernel image; GRUB cannot boot it (kbackup prune removes whole sets)`, 'warning'));
    }
    if (set.legacyImage) {
      problems.push(
        problem(
          'legacy-backup',
          `${set.legacyImage.name} uses the original script's name, which linux-base sorts above the live kernel so that update-initramfs -u rebuilds the backup's initrd; run kbackup adopt`,
        ),
      );
    }
  }
  for (const link of facts.links) {
    if (!link.exists) {
      const newest = [...model.live.values()].filter((l) => l.files.has('vmlinuz')).map((l) => l.version).sort(compareDebianVersions).at(-1);
      const fix = newest
        ? `run linux-update-symlinks install ${newest} /boot/vmlinuz-${newest} to re-create the links, or rm ${link.path}`
        : `remove it: rm ${link.path}`;
      problems.push(problem('link-dangling', `${link.path} points to ${link.target}, which does not exist; ${fix}`));
    } else if (isBackupPath(link.resolved, stems)) {
      problems.push(problem('link-points-at-backup', `${link.path} points to the backup ${link.target}; run linux-update-symlinks or re-create the link to a live kernel`));
    }
  }
  for (const m of facts.mismatches) {
    problems.push(
      problem(
        'manifest-mismatch',
        `${m.name} of backup set ${m.id} ${m.why}; do not boot or restore this set: remove it with rm /boot/*-${m.id} (kbackup list shows the sets left)`,
      ),
    );
  }
  if (state.bootsProblem) problems.push(problem('boots-unreadable', state.bootsProblem));
  if (state.manifestState === 'corrupt') {
    problems.push(problem('manifest-corrupt', `the manifest is unreadable (${state.manifestProblem}); the next backup rebuilds it`, 'warning'));
  } else if (state.manifestState === 'missing' && model.sets.length > 0) {
    problems.push(problem('manifest-missing', 'the manifest is missing, so backups cannot be verified; the next backup rebuilds it', 'warning'));
  } else if (state.manifestState === 'ok') {
    for (const set of model.sets) {
      if (!manifestSet(state.manifest, set.id) && !set.legacyImage) {
        problems.push(
          problem(
            'backup-unrecorded',
            `backup set ${set.id} is not in kbackup's manifest (copied by hand?), so it cannot be verified; if you did not make it, remove it with rm /boot/*-${set.id}, ` +
              'else it stays and is pruned like any other set',
            'warning',
          ),
        );
      }
    }
  }
  if (facts.freeBytes !== undefined) {
    let largest = 0;
    for (const live of model.live.values()) {
      largest = Math.max(largest, (live.files.get('vmlinuz')?.size ?? 0) + (live.files.get('initrd.img')?.size ?? 0));
    }
    const need = minFreeBytes(config, largest);
    if (largest > 0 && facts.freeBytes < need) {
      problems.push(problem('boot-space-low', `only ${humanSize(facts.freeBytes)} is free in /boot; the next kernel update needs about ${humanSize(need)} (the MIN_FREE_MB reserve); kbackup prune, or apt autoremove of old kernels, frees space`, 'warning'));
    }
  }
  if (state.scan.temps.length > 0) {
    problems.push(problem('temp-files-left', `temporary files of an interrupted run are in /boot (${state.scan.temps.join(', ')}); the next backup removes them`, 'warning'));
  }
  if (facts.trial) {
    const t = facts.trial;
    if (t.state === 'failed') problems.push(problem('trial-failed', t.sentence));
    else if (t.state === 'armed') problems.push(problem('trial-armed', t.sentence, 'warning'));
    else if (t.state === 'booting') problems.push(problem('trial-booting', t.sentence, 'warning'));
    if (t.unavailable) problems.push(problem('trial-unavailable', `TRIAL_BOOT=yes, but ${t.unavailable}`, 'warning'));
    if (t.unhealthy) problems.push(problem('boot-unhealthy', t.unhealthy.sentence));
  }
  return problems;
}
