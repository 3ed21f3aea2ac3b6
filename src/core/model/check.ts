// `kbackup check`'s rules: does what GRUB will boot, and what it can fall back to, still make sense?
// ops/check.ts reads the facts once; evaluateCheck (pure) decides; the command renders.
import type { BootModel, BootScan } from './boot-model';
import { minFreeBytes, type Config } from './config';
import { grubPathBasename } from './grub/grub-cfg';
import type { GrubFlavour, GrubKernel } from './grub/menu-order';
import { manifestSet, type Manifest, type ManifestState } from './manifest';
import { parseBootName } from './names';
import { problem, type Problem } from './problems';
import { mib } from './size';

/** Problem codes `check` can report (stable; see kbackup(8)). */
export const CHECK_CODES = [
  'backup-is-default',
  'grub-default-is-backup',
  'grub-default-unresolved',
  'grub-cfg-stale',
  'grub-not-found',
  'grub-flavour-unknown',
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
  'trial-failed',
  'trial-armed',
  'trial-booting',
  'trial-unavailable',
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
  trial?: { state: 'none' | 'armed' | 'booting' | 'failed'; sentence: string; unavailable: string | null };
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
    problems.push(problem('backup-is-default', `update-grub would make the backup ${first.image} the default entry: a live kernel must sort above its backups`));
  }
  if (facts.grubCfg) {
    const def = facts.grubCfg.defaultLinux;
    if (def && isBackupPath(def, stems)) {
      problems.push(problem('grub-default-is-backup', `grub.cfg boots the backup ${def} by default (${facts.grubCfg.defaultHow}); set GRUB_DEFAULT to the live kernel and run update-grub`));
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
      problems.push(problem('backup-missing-initrd', `the backup ${k.image} has no initrd GRUB would find, so its menu entry would boot without one`));
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
      problems.push(problem('link-dangling', `${link.path} points to ${link.target}, which does not exist`));
    } else if (isBackupPath(link.resolved, stems)) {
      problems.push(problem('link-points-at-backup', `${link.path} points to the backup ${link.target}; run linux-update-symlinks or re-create the link to a live kernel`));
    }
  }
  for (const m of facts.mismatches) {
    problems.push(problem('manifest-mismatch', `${m.name} of backup set ${m.id} ${m.why}`));
  }
  if (state.manifestState === 'corrupt') {
    problems.push(problem('manifest-corrupt', `the manifest is unreadable (${state.manifestProblem}); the next backup rebuilds it`, 'warning'));
  } else if (state.manifestState === 'missing' && model.sets.length > 0) {
    problems.push(problem('manifest-missing', 'the manifest is missing, so backups cannot be verified; the next backup rebuilds it', 'warning'));
  } else if (state.manifestState === 'ok') {
    for (const set of model.sets) {
      if (!manifestSet(state.manifest, set.id) && !set.legacyImage) {
        problems.push(problem('backup-unrecorded', `backup set ${set.id} is not in kbackup's manifest (copied by hand?), so it cannot be verified`, 'warning'));
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
      problems.push(problem('boot-space-low', `only ${mib(facts.freeBytes)} is free in /boot; the next kernel update needs about ${mib(need)} (MIN_FREE_MB)`, 'warning'));
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
  }
  return problems;
}
