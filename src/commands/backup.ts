// `hook preinst`, `hook initramfs` and `snapshot`: the commands that make backup sets.
import * as path from 'node:path';
import { sha256File } from '../core/copy';
import { assessInitrd } from '../core/initrd';
import { backupVersion, readState, statSource, withLock, type BackupRequest } from '../core/engine';
import { RefusedError, UsageError } from '../core/errors';
import { assertSafeVersion, liveFileName } from '../core/names';
import type { CommandContext } from './context';
import { renderBackupPlan } from './render';

export const HOOK_LOCK_WAIT_MS = 60_000;
export const COMMAND_LOCK_WAIT_MS = 10_000;

/** `upgrade 6.1.76-1` -> the version of the package being replaced, whose files we back up. */
export function packageVersionFromMaintParams(params: string | undefined): string | undefined {
  const words = (params ?? '').trim().split(/\s+/);
  if ((words[0] === 'upgrade' || words[0] === 'install') && words[1] && /^[A-Za-z0-9.+~:-]+$/.test(words[1])) return words[1];
  return undefined;
}

async function installedPackageVersion(ctx: CommandContext, version: string): Promise<string | undefined> {
  const admindir = path.join(ctx.world.root, 'var/lib/dpkg');
  const r = await ctx.world.exec('dpkg-query', [`--admindir=${admindir}`, '-W', '-f=${Version}', `linux-image-${version}`], { timeoutMs: 10_000 });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

type MakeBackupArgs = BackupRequest & { dryRun: boolean; lockWaitMs: number };

/** Returns the outcome; throws RefusedError when a wanted backup could not be made (no space…). */
async function makeBackup(ctx: CommandContext, args: MakeBackupArgs) {
  const config = await ctx.config();
  return withLock(ctx.world, `${args.origin} ${args.version}`, args.lockWaitMs, async () => {
    const { lockWaitMs: _, ...request } = args;
    return backupVersion(ctx.world, await readState(ctx.world, config), request);
  });
}

export async function runHookPreinst(ctx: CommandContext, version: string): Promise<number> {
  assertSafeVersion(version);
  const config = await ctx.config();
  if (!config.enabled) {
    ctx.world.log.debug('ENABLED=no: nothing to do');
    return 0;
  }
  const outcome = await makeBackup(ctx, {
    version,
    origin: 'preinst',
    packageVersion: packageVersionFromMaintParams(ctx.world.env.DEB_MAINT_PARAMS),
    dryRun: false,
    lockWaitMs: HOOK_LOCK_WAIT_MS,
  });
  return reportBackup(ctx, outcome.plan, false, 'hook');
}

export async function runSnapshot(ctx: CommandContext, versionArg: string | undefined, dryRun: boolean): Promise<number> {
  const version = assertSafeVersion(versionArg ?? ctx.world.uname());
  const outcome = await makeBackup(ctx, {
    version,
    origin: 'snapshot',
    packageVersion: await installedPackageVersion(ctx, version),
    dryRun,
    lockWaitMs: COMMAND_LOCK_WAIT_MS,
  });
  if (outcome.plan.skip?.reason === 'nothing-to-back-up') {
    throw new UsageError(`there is no kernel ${version} in ${path.join(ctx.world.root, 'boot')} (kbackup list shows the versions with backups)`);
  }
  return reportBackup(ctx, outcome.plan, dryRun, 'command');
}

function reportBackup(ctx: CommandContext, plan: Parameters<typeof renderBackupPlan>[0], dryRun: boolean, mode: 'hook' | 'command'): number {
  const lines = renderBackupPlan(plan, dryRun);
  if (dryRun) {
    ctx.out(`${lines.join('\n')}\n`);
    return 0;
  }
  const skip = plan.skip;
  if (skip?.warn) {
    // A wanted backup that could not be made: main turns this into ON_ERROR's answer for hooks.
    for (const l of lines.slice(0, -1)) ctx.world.log.info(l);
    throw new RefusedError(skip.message);
  }
  if (mode === 'hook' && skip?.reason === 'nothing-to-back-up') {
    // A new ABI's first install is the common case and must stay quiet: any output makes
    // run-parts --report name the hook in dpkg's log as if something had happened.
    ctx.world.log.debug(`no kernel ${plan.version} installed yet: nothing to back up`);
    return 0;
  }
  // The per-file lines are details; the deletions and the summary are what an admin reads in dpkg's output.
  for (const l of lines) (l.startsWith('copied ') ? ctx.world.log.debug : ctx.world.log.info)(l);
  return 0;
}

/**
 * `update-initramfs -u` keeps the previous image as INITRD.dpkg-bak while its post-update hooks
 * run. If that differs from the new image and from the newest backup, it becomes a backup set
 * with the live kernel image, config and System.map.
 */
export async function runHookInitramfs(ctx: CommandContext, version: string, initrdArg: string): Promise<number> {
  assertSafeVersion(version);
  const config = await ctx.config();
  if (!config.enabled) return 0;
  const bootDir = path.join(ctx.world.root, 'boot');
  const initrd = initrdArg.startsWith(`${ctx.world.root}/`) || ctx.world.root === '/' ? initrdArg : path.join(ctx.world.root, initrdArg);
  if (path.dirname(path.resolve(initrd)) !== path.resolve(bootDir) || path.basename(initrd) !== liveFileName('initrd.img', version)) {
    ctx.world.log.debug(`${initrdArg} is not ${liveFileName('initrd.img', version)} in ${bootDir}: not kept`);
    return 0;
  }
  const previousName = `${path.basename(initrd)}.dpkg-bak`;
  const previous = await statSource(bootDir, 'initrd.img', previousName);
  if (!previous) {
    ctx.world.log.debug(`no ${previousName}: the image was created, not rebuilt`);
    return 0;
  }
  const [prevHash, newHash] = await Promise.all([sha256File(path.join(bootDir, previousName)), sha256File(initrd)]);
  if (prevHash === newHash) {
    ctx.world.log.debug(`${path.basename(initrd)} was rebuilt identically: nothing to keep`);
    return 0;
  }
  const outcome = await makeBackup(ctx, {
    version,
    origin: 'initramfs',
    overrides: [previous],
    knownHashes: new Map([['initrd.img', prevHash]]),
    // During a kernel upgrade the preinst hook already kept the old initrd with the old kernel;
    // pairing it again with the new kernel image would only waste space.
    dedupeStems: ['initrd.img'],
    dryRun: false,
    lockWaitMs: HOOK_LOCK_WAIT_MS,
  });
  if (outcome.plan.skip?.reason === 'identical') ctx.world.log.debug('the previous initrd is already the newest backup');
  else reportBackup(ctx, outcome.plan, false, 'hook');
  await reportInitrdHealth(ctx, version);
  return 0;
}

/** The rebuilt image against the previous one, while the previous one is still at hand. */
async function reportInitrdHealth(ctx: CommandContext, version: string): Promise<void> {
  const { problems } = await assessInitrd(ctx.world, version);
  for (const p of problems) {
    if (p.severity === 'error') ctx.world.log.warn(`${p.code}: ${p.message}`);
    else ctx.world.log.info(`${p.code}: ${p.message}`);
  }
  if (problems.some((p) => p.severity === 'error')) {
    ctx.world.log.warn(`the rebuilt initrd of ${version} looks broken; kbackup diff compares it with the previous one, kbackup restore puts that back`);
  }
}
