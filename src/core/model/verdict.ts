// A boot's verdict: is it at least as healthy as the known-good boot? As a new initrd is judged
// against a previous image (model/initrd-health.ts), a boot is judged against the last boot that
// was good, on what an administrator relies on: its addressed network interfaces, its fstab mounts,
// the units that ran, and the checks the admin made RequiredBy=boot-complete.target (systemd's
// convention, as systemd-bless-boot uses it). Pure: the facts come from io/boot-health.ts.
import type { BootHealth, InterfaceFact, RecordedVerdict } from './boots';

/**
 * How long boot-record waits for a missing address before judging: DHCP on a slow network, a bond
 * or a bridge with STP can take most of a minute after multi-user.target. Past this bound an
 * interface that had an address on the known-good and has none is a failed boot.
 */
export const NETWORK_WAIT_SECONDS = 90;
/** How often the interfaces are read again while waiting. */
export const NETWORK_POLL_SECONDS = 3;

/** What the current boot shows, beside the health facts it will be recorded with. */
export interface BootObservation {
  health: BootHealth;
  /** fstab mount points that must be mounted (not swap, not noauto, not nofail); absent when fstab was unreadable. */
  fstabRequired?: string[];
  /** Units in the failed state now; absent when systemd could not be asked. */
  failedUnits?: string[];
  /** The units boot-complete.target requires (RequiredBy=boot-complete.target) and how they ended. */
  bootComplete?: { unit: string; result: 'success' | 'failed' | 'pending' }[];
}

/** The known-good as a verdict needs it: which boot, and what it had (older records have no health). */
export interface VerdictBaseline {
  bootId: string;
  version: string;
  health?: BootHealth;
}

const list = (xs: readonly string[]) => xs.join(', ');

/** The interface of the current boot that is `was`: the same MAC first (names change with a new kernel), then the same name. */
export function matchInterface(was: InterfaceFact, now: readonly InterfaceFact[]): InterfaceFact | undefined {
  if (was.mac) {
    const byMac = now.find((i) => i.mac === was.mac);
    if (byMac) return byMac;
  }
  return now.find((i) => i.name === was.name);
}

/** The network part of the verdict (boot-record waits for it to clear, up to NETWORK_WAIT_SECONDS). */
export function networkProblems(baseline: VerdictBaseline | undefined, now: BootHealth): string[] {
  const before = baseline?.health?.interfaces;
  const after = now.interfaces;
  if (!baseline || !before || !after) return [];
  const on = `on the known-good boot (${baseline.version})`;
  const problems: string[] = [];
  for (const was of before) {
    if (was.addresses.length === 0) continue;
    const had = `${was.name} had ${list(was.addresses)} ${on}`;
    const is = matchInterface(was, after);
    if (!is) {
      problems.push(`${had}; no interface${was.mac ? ` with MAC ${was.mac}` : ''} named ${was.name} exists now (its driver did not load?)`);
    } else if (is.addresses.length === 0) {
      problems.push(`${had}; it has no address now${is.name !== was.name ? ` (it is ${is.name} now)` : ''}`);
    }
  }
  const route = before.find((i) => i.defaultRoute);
  if (route && !after.some((i) => i.defaultRoute)) {
    problems.push(`the known-good boot (${baseline.version}) had a default route through ${route.name}; there is none now`);
  }
  return problems;
}

/** Everything a boot is judged on; good only when nothing is missing. */
export function judgeBoot(baseline: VerdictBaseline | undefined, now: BootObservation): RecordedVerdict {
  const problems = [...networkProblems(baseline, now.health)];
  const mounted = new Set(now.health.mounts ?? []);
  if (now.health.mounts) {
    const missing = new Set<string>();
    for (const m of baseline?.health?.mounts ?? []) {
      if (!mounted.has(m)) {
        missing.add(m);
        problems.push(`${m} (from /etc/fstab) was mounted on the known-good boot (${baseline!.version}); it is not mounted now`);
      }
    }
    for (const m of now.fstabRequired ?? []) {
      if (!mounted.has(m) && !missing.has(m)) problems.push(`${m} is in /etc/fstab but is not mounted`);
    }
  }
  const ran = new Set(baseline?.health?.units ?? []);
  const failedNow = (now.failedUnits ?? []).filter((u) => ran.has(u));
  if (failedNow.length > 0 && baseline) {
    problems.push(`${list(failedNow)} ran on the known-good boot (${baseline.version}) and ${failedNow.length === 1 ? 'has' : 'have'} failed now (systemctl status says why)`);
  }
  for (const c of now.bootComplete ?? []) {
    if (c.result === 'failed') problems.push(`${c.unit}, which boot-complete.target requires, failed (systemctl status ${c.unit} says why)`);
    else if (c.result === 'pending') problems.push(`${c.unit}, which boot-complete.target requires, has not succeeded`);
  }
  const verdict: RecordedVerdict = { good: problems.length === 0, problems };
  if (baseline) verdict.against = { bootId: baseline.bootId, version: baseline.version };
  return verdict;
}

/** The verdict in one sentence for status, check and the journal. */
export function verdictSentence(verdict: RecordedVerdict): string {
  return verdict.good ? 'the boot is as healthy as the known-good' : verdict.problems.join('; ');
}
