// The boot verdict (model/verdict.ts) and the readers of its facts (io/boot-health.ts), table-driven.
import { describe, expect, it } from 'vitest';
import { bootCompleteResult, defaultRouteInterfaces, fstabMounts, mountPoints, parseListUnits, parseShowBlocks } from '../../src/core/io/boot-health';
import { knownGood, validateBoots, type BootRecord, type InterfaceFact } from '../../src/core/model/boots';
import { judgeBoot, matchInterface, type BootObservation, type VerdictBaseline } from '../../src/core/model/verdict';

const GOOD_V = '6.1.0-50-amd64';
const nic = (name: string, mac: string | null, addresses: string[], defaultRoute = false): InterfaceFact => ({ name, mac, addresses, defaultRoute });
const enp1s0 = nic('enp1s0', '52:54:00:12:34:56', ['10.0.2.15/24'], true);

const baseline = (health: VerdictBaseline['health']): VerdictBaseline => ({ bootId: 'good', version: GOOD_V, ...(health ? { health } : {}) });
const now = (over: Partial<BootObservation> & { interfaces?: InterfaceFact[]; mounts?: string[]; units?: string[] } = {}): BootObservation => {
  const { interfaces, mounts, units, ...rest } = over;
  return {
    health: { interfaces: interfaces ?? [enp1s0], mounts: mounts ?? ['/', '/boot'], units: units ?? ['ssh.service'] },
    fstabRequired: ['/', '/boot'],
    failedUnits: [],
    bootComplete: [],
    ...rest,
  };
};
const healthyGood = baseline({ interfaces: [enp1s0], mounts: ['/', '/boot'], units: ['ssh.service', 'cron.service'] });

describe('judgeBoot', () => {
  it.each<[string, VerdictBaseline | undefined, BootObservation, string[]]>([
    ['a boot just like the known-good', healthyGood, now(), []],
    ['the NIC is there but has no address (its driver bound, DHCP failed)', healthyGood, now({ interfaces: [nic('enp1s0', '52:54:00:12:34:56', [])] }), [
      `enp1s0 had 10.0.2.15/24 on the known-good boot (${GOOD_V}); it has no address now`,
      `the known-good boot (${GOOD_V}) had a default route through enp1s0; there is none now`,
    ]],
    ['the NIC is gone (its driver is missing from the new kernel)', healthyGood, now({ interfaces: [] }), [
      `enp1s0 had 10.0.2.15/24 on the known-good boot (${GOOD_V}); no interface with MAC 52:54:00:12:34:56 named enp1s0 exists now (its driver did not load?)`,
      `the known-good boot (${GOOD_V}) had a default route through enp1s0; there is none now`,
    ]],
    ['the NIC was renamed by the new kernel but has its address: matched by MAC, good', healthyGood, now({ interfaces: [nic('eth0', '52:54:00:12:34:56', ['10.0.2.15/24'], true)] }), []],
    ['renamed and unaddressed: said with its new name', healthyGood, now({ interfaces: [nic('eth0', '52:54:00:12:34:56', []), nic('enp1s0', '52:54:00:99:99:99', ['10.0.9.9/24'], true)] }), [
      `enp1s0 had 10.0.2.15/24 on the known-good boot (${GOOD_V}); it has no address now (it is eth0 now)`,
    ]],
    ['a new address on the same NIC is still an address', healthyGood, now({ interfaces: [nic('enp1s0', '52:54:00:12:34:56', ['10.0.2.16/24'], true)] }), []],
    ['a known-good with no MAC (a tunnel) is matched by name', baseline({ interfaces: [nic('wg0', null, ['10.9.0.1/24'])] }), now({ interfaces: [nic('wg0', null, [])] }), [
      `wg0 had 10.9.0.1/24 on the known-good boot (${GOOD_V}); it has no address now`,
    ]],
    ['an fstab mount of the known-good is not mounted', healthyGood, now({ mounts: ['/'] }), [
      `/boot (from /etc/fstab) was mounted on the known-good boot (${GOOD_V}); it is not mounted now`,
    ]],
    ['an fstab mount that must mount (no nofail) is missing, even with no known-good', undefined, now({ mounts: ['/'], fstabRequired: ['/', '/srv'] }), ['/srv is in /etc/fstab but is not mounted']],
    ['a unit that ran on the known-good failed', healthyGood, now({ failedUnits: ['ssh.service', 'never-ran.service'] }), [
      `ssh.service ran on the known-good boot (${GOOD_V}) and has failed now (systemctl status says why)`,
    ]],
    ['a unit that never ran on the known-good failed: not this verdict’s business', healthyGood, now({ failedUnits: ['never-ran.service'] }), []],
    ['an admin check RequiredBy=boot-complete.target failed', healthyGood, now({ bootComplete: [{ unit: 'app-health.service', result: 'failed' }, { unit: 'ok.service', result: 'success' }] }), [
      'app-health.service, which boot-complete.target requires, failed (systemctl status app-health.service says why)',
    ]],
    ['an admin check that never finished', undefined, now({ bootComplete: [{ unit: 'slow.service', result: 'pending' }] }), ['slow.service, which boot-complete.target requires, has not succeeded']],
    ['a known-good recorded before verdicts existed (no health) judges only what it has', baseline(undefined), now({ interfaces: [], units: [], failedUnits: ['ssh.service'] }), []],
    ['facts this boot could not read (no ip) judge nothing', healthyGood, { health: { mounts: ['/', '/boot'] }, fstabRequired: ['/'] }, []],
  ])('%s', (_what, good, observation, problems) => {
    const v = judgeBoot(good, observation);
    expect(v.problems).toEqual(problems);
    expect(v.good).toBe(problems.length === 0);
    if (good) expect(v.against).toEqual({ bootId: 'good', version: GOOD_V });
  });

  it('matches by MAC before name: a name taken over by another NIC is not the same interface', () => {
    const other = nic('enp1s0', '52:54:00:aa:aa:aa', ['192.0.2.1/24']);
    const moved = nic('enp2s0', '52:54:00:12:34:56', ['10.0.2.15/24']);
    expect(matchInterface(enp1s0, [other, moved])).toBe(moved);
    expect(matchInterface(enp1s0, [other])).toBe(other);
  });
});

describe('boots.json with health and verdicts', () => {
  const rec = (bootId: string, time: string, verdict?: BootRecord['verdict']): BootRecord => ({
    time,
    bootId,
    version: GOOD_V,
    image: `/boot/vmlinuz-${GOOD_V}`,
    initrd: `/boot/initrd.img-${GOOD_V}`,
    imageSha256: 'a',
    initrdSha256: 'b',
    setId: null,
    trial: null,
    ...(verdict ? { verdict } : {}),
  });

  it('a boot that failed its verdict is never the known-good; an older record without a verdict still is', () => {
    const old = rec('b1', '2026-11-01T00:00:00Z');
    const bad = rec('b2', '2026-11-02T00:00:00Z', { good: false, problems: ['x'] });
    expect(knownGood([old, bad])).toBe(old);
    const good = rec('b3', '2026-11-03T00:00:00Z', { good: true, problems: [] });
    expect(knownGood([old, bad, good])).toBe(good);
  });

  it('validates the new fields and still reads records without them', () => {
    expect(validateBoots([rec('b1', '2026-11-01T00:00:00Z')])).toHaveProperty('boots');
    const withHealth = { ...rec('b1', '2026-11-01T00:00:00Z', { good: true, problems: [] }), health: { interfaces: [enp1s0], mounts: ['/'], units: ['ssh.service'] } };
    expect(validateBoots([withHealth])).toHaveProperty('boots');
    expect(validateBoots([{ ...withHealth, health: { interfaces: [{ name: 'x' }] } }])).toMatchObject({ boots: [], unknown: [{ bootId: withHealth.bootId }] });
    expect(validateBoots([{ ...withHealth, verdict: { good: 'yes' } }])).toMatchObject({ boots: [], unknown: [{ bootId: withHealth.bootId }] });
  });
});

describe('reading the facts', () => {
  it('finds the interfaces of default routes in /proc/net/route and ipv6_route (not the kernel’s unreachable default on lo)', () => {
    const route = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'enp1s0\t00000000\t0202000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      'enp1s0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    ].join('\n');
    const v6 = [
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 enp2s0',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
    ].join('\n');
    expect([...defaultRouteInterfaces(route, v6)].sort()).toEqual(['enp1s0', 'enp2s0']);
    expect([...defaultRouteInterfaces(undefined, undefined)]).toEqual([]);
  });

  it('reads fstab as systemd does: no swap, noauto never mounts, nofail need not', () => {
    const fstab = [
      '# <file system> <mount point> <type> <options> <dump> <pass>',
      'UUID=1 /               ext4 errors=remount-ro 0 1',
      'UUID=2 /boot/          ext4 defaults 0 2',
      'UUID=3 none            swap sw 0 0',
      '/dev/sdb1 /media/usb   vfat noauto,user 0 0',
      'nas:/srv /srv/backup   nfs  nofail,_netdev 0 0',
      'tmpfs /mnt/with\\040space tmpfs defaults 0 0',
    ].join('\n');
    expect(fstabMounts(fstab)).toEqual({ atBoot: ['/', '/boot', '/srv/backup', '/mnt/with space'], required: ['/', '/boot', '/mnt/with space'] });
  });

  it('reads mount points from mountinfo, unescaped', () => {
    const mi = '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n40 22 0:35 / /mnt/with\\040space rw - tmpfs tmpfs rw\n';
    expect([...mountPoints(mi)]).toEqual(['/', '/mnt/with space']);
  });

  it('reads systemctl list-units --plain: active and failed units of the types that run, not kbackup’s own', () => {
    const text = [
      '  ssh.service                 loaded active running OpenBSD Secure Shell server',
      '● networking.service          loaded failed failed  Raise network interfaces',
      'sys-devices-x.device          loaded active plugged QEMU disk',
      'kbackup-boot-record.service   loaded active exited  Record the kernel',
      'boot.mount                    loaded active mounted /boot',
      'cron.service                  loaded inactive dead  Regular background program processing daemon',
    ].join('\n');
    expect(parseListUnits(text)).toEqual({ active: ['boot.mount', 'ssh.service'], failed: ['networking.service'] });
  });

  it('tells how a unit boot-complete.target requires ended (a oneshot that exited 0 succeeded)', () => {
    const blocks = parseShowBlocks(
      [
        'Id=ok-oneshot.service\nActiveState=inactive\nResult=success\nInactiveExitTimestampMonotonic=123',
        'Id=never.service\nActiveState=inactive\nResult=success\nInactiveExitTimestampMonotonic=0',
        'Id=bad.service\nActiveState=failed\nResult=exit-code\nInactiveExitTimestampMonotonic=99',
        'Id=daemon.service\nActiveState=active\nResult=success\nInactiveExitTimestampMonotonic=5',
      ].join('\n\n'),
    );
    expect(blocks.map((b) => [b.Id, bootCompleteResult(b)])).toEqual([
      ['ok-oneshot.service', 'success'],
      ['never.service', 'pending'],
      ['bad.service', 'failed'],
      ['daemon.service', 'success'],
    ]);
  });
});
