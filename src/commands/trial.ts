// `kbackup trial [status|arm|cancel|accept|retry]`, `kbackup status` and `kbackup boot-record`.
import { recordBoot } from '../core/ops/boot-record';
import { armAfterInitrdRebuild, armTrial, endTrial, trialStatus, type ArmOutcome, type HookArmOutcome } from '../core/ops/trial';
import type { Config } from '../core/model/config';
import { KbackupError } from '../core/model/errors';
import type { BootRecord } from '../core/model/boots';
import type { CommandContext } from './context';
import { refreshAndReport } from './fallback';
import { fallbackStatus, prometheusStatus } from '../core/ops/fallback';
import { table } from './render';

export const TRIAL_COMMANDS = ['status', 'arm', 'cancel', 'accept', 'retry'] as const;
export type TrialCommandName = (typeof TRIAL_COMMANDS)[number];

export async function runBootRecord(ctx: CommandContext): Promise<number> {
  const outcome = await recordBoot(ctx.world, await ctx.config());
  const log = ctx.world.log;
  if (outcome.guessed) log.warn(outcome.guessed);
  const r = outcome.record;
  const what = `${r.image}${r.initrd ? ` with ${r.initrd}` : ' without an initrd'} (${r.version})`;
  const { after, newlyFailed } = outcome.trial;
  if (outcome.verdict.good) {
    log.info(`recorded the boot of ${what}: it is the known-good now`);
  } else {
    const stays = outcome.against ? `the known-good stays ${outcome.against.image} (booted ${outcome.against.time})` : 'no boot has been recorded as known-good yet';
    log.warn(`this boot of ${what} is less healthy than the known-good: ${outcome.verdict.problems.join('; ')}. It is not recorded as known-good: ${stays}`);
  }
  if (r.trial === 'promoted') log.info(`the trial of ${r.image} succeeded: it is GRUB's default again, with no trial`);
  else if (outcome.reboot === 'skipped') {
    log.error(`the trial of ${r.image} failed its verdict, so GRUB starts the known-good from now on; this root is not the running machine's, so it was not rebooted`);
  } else if (outcome.reboot) {
    // The reboot itself was announced by ops, before it started.
    if (outcome.reboot.code !== 0) log.error(`systemctl reboot failed (${outcome.reboot.stderr.trim()}); reboot by hand, and GRUB starts the known-good`);
  } else if (newlyFailed) log.warn(`a trial boot failed and GRUB fell back to ${r.image}; kbackup status says how to retry or accept it`);
  else if (after === 'failed' && r.trial === 'fallback') log.warn(`the trial failed, so GRUB started ${r.image} (the known-good) instead, and keeps doing so; kbackup status says why, and how to retry or accept it`);
  else if (after === 'failed') log.warn(`a failed trial is still pending, so GRUB keeps starting ${r.image}; kbackup status says how to retry or accept it`);
  if (outcome.kept?.id) log.info(`kept a copy of the known-good as backup set ${outcome.kept.id} (dracut rebuilds initrds in place)`);
  else if (outcome.kept?.skip?.warn) log.warn(`could not keep a copy of the known-good: ${outcome.kept.skip.message}`);
  for (const w of outcome.fallback?.warnings ?? []) log.warn(w);
  if (outcome.fallback?.newFallback && outcome.fallback.fallback) log.warn(fallbackStatusLine(outcome.fallback.fallback));
  // A boot that failed its verdict leaves the unit failed: `systemctl --failed` shows it too.
  return outcome.verdict.good ? 0 : 1;
}

function renderArm(outcome: ArmOutcome): string {
  if (!outcome.armed) return outcome.why;
  const r = outcome.record;
  return (
    `${outcome.dryRun ? 'would arm' : 'armed'} a trial of ${r.image}: the next boot starts GRUB entry "${r.entry}" once with ${outcome.args}; ` +
    `if it does not reach its boot record, GRUB starts "${r.goodEntry}" (${r.goodImage}) from then on`
  );
}

export async function runTrial(ctx: CommandContext, command: TrialCommandName, options: { json: boolean; dryRun: boolean }): Promise<number> {
  const config = await ctx.config();
  const emit = (value: unknown, text: string) => ctx.out(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  switch (command) {
    case 'status': {
      const view = await trialStatus(ctx.world, config);
      const { boots: _, ...rest } = view;
      emit(rest, view.sentence);
      return 0;
    }
    case 'arm':
    case 'retry': {
      const outcome = await armTrial(ctx.world, config, { dryRun: options.dryRun, retry: command === 'retry' });
      if (outcome.armed && !options.dryRun) await refreshAndReport(ctx, { acknowledged: true });
      emit(outcome, renderArm(outcome));
      return 0;
    }
    case 'cancel':
    case 'accept': {
      const { before, record } = await endTrial(ctx.world, config, command, options.dryRun);
      if (!options.dryRun) await refreshAndReport(ctx, { acknowledged: true });
      const what = record?.image ?? 'the trial';
      const verb = options.dryRun ? 'would' : 'did';
      const text =
        command === 'accept'
          ? `${options.dryRun ? 'would accept' : 'accepted'} ${what}: GRUB boots its default again with no trial (it was ${before})`
          : `${options.dryRun ? 'would cancel' : 'cancelled'} the trial of ${what} (it was ${before}): GRUB boots its default as it would without kbackup`;
      emit({ command, before, trial: record ?? null, dryRun: options.dryRun, done: verb === 'did' }, text);
      return 0;
    }
  }
}

function bootRows(boots: readonly BootRecord[], limit: number): string[][] {
  const rows = [['BOOTED (UTC)', 'VERSION', 'IMAGE', 'TRIAL']];
  for (const b of boots.slice(-limit).reverse()) rows.push([b.time.slice(0, 19).replace('T', ' '), b.version, b.image, b.trial ?? '']);
  return rows;
}

export const STATUS_FORMATS = ['text', 'json', 'prometheus'] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

export async function runStatus(ctx: CommandContext, format: StatusFormat): Promise<number> {
  const config = await ctx.config();
  if (format === 'prometheus') {
    ctx.out(await prometheusStatus(ctx.world, config));
    return 0;
  }
  const view = await trialStatus(ctx.world, config);
  const fallback = await fallbackStatus(ctx.world, view.knownGood?.version ?? null);
  if (format === 'json') {
    ctx.out(`${JSON.stringify({ ...view, boots: view.boots.slice(-5).reverse(), fallback }, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [];
  lines.push(view.knownGood ? `known-good: ${view.knownGood.image} with ${view.knownGood.initrd ?? 'no initrd'} (booted ${view.knownGood.time})` : 'known-good: none recorded yet');
  if (view.bootsProblem) lines.push(`boot records: ${view.bootsProblem}`);
  lines.push(`trial: ${view.sentence}`);
  if (fallback.sentence) lines.push(`fallback: ${fallback.sentence}`);
  if (fallback.knownGoodRelease) {
    lines.push(
      fallback.keptFromAutoremove
        ? `autoremove: apt keeps the kernel package of ${fallback.knownGoodRelease} (${fallback.aptConf})`
        : `autoremove: nothing keeps the kernel package of ${fallback.knownGoodRelease} from apt autoremove yet; the next boot record or kernel hook writes ${fallback.aptConf}`,
    );
  }
  if (view.unhealthy) lines.push(`verdict: ${view.unhealthy.sentence}`);
  if (view.boots.length > 0) lines.push('', table(bootRows(view.boots, 5)));
  ctx.out(`${lines.join('\n')}\n`);
  return 0;
}

/** What a hook says about arming: a trial armed is news, a refusal a warning, "nothing changed" a detail. */
function reportHookArm(ctx: CommandContext, outcome: HookArmOutcome): void {
  if ('skipped' in outcome) ctx.world.log.debug(`trial boot: ${outcome.skipped}`);
  else if (outcome.armed) ctx.world.log.info(renderArm(outcome));
  else if (outcome.unchanged) ctx.world.log.debug(`trial boot: ${outcome.why}`);
  else if (outcome.noKnownGoodYet) ctx.world.log.info(`no trial boot armed: ${outcome.why}`);
  else ctx.world.log.warn(`no trial boot armed: ${outcome.why}`);
}

/**
 * Arms a trial from a hook (TRIAL_BOOT=yes). Never throws: a kernel update does not fail because a
 * trial could not be armed; the admin reads why.
 */
export async function armFromHook(ctx: CommandContext, config: Config, after: 'postinst' | 'initramfs'): Promise<void> {
  if (!config.trialBoot) return;
  try {
    reportHookArm(ctx, after === 'postinst' ? await armTrial(ctx.world, config, { hook: true }) : await armAfterInitrdRebuild(ctx.world, config));
  } catch (err) {
    if (!(err instanceof KbackupError)) throw err;
    ctx.world.log.warn(`no trial boot armed: ${err.message}`);
  }
}

function fallbackStatusLine(f: { reason: string; version: string }): string {
  return `fallback: ${f.reason === 'trial-failed' ? 'the trial failed and ' : ''}this boot runs ${f.version}, not GRUB's default; kbackup status says what to do`;
}
