import { describe, expect, it } from 'vitest';
import { chooseLayout, limitSources } from '../../src/worker/cgroup/layout.js';
import { parseFlatKeyed, parseMountinfo, parsePids, parseProcCgroup } from '../../src/worker/cgroup/mountinfo.js';

// Debian 12 / Ubuntu 22.04 host, and the same inside a Docker container with cgroupns.
const PURE_V2 = `22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 28 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro`;
const PURE_V2_SELF = '0::/system.slice/reapq.service\n';

// This development machine: v2 as `unified` beside v1 controllers.
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const HYBRID_SELF = `9:name=systemd:/
8:pids:/
6:freezer:/
4:memory:/process_api/2651ec
1:cpu:/
0::/
`;

// CentOS 7: v1 only, cpu and cpuacct mounted together, read-only in a container.
const V1_ONLY = `25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
27 25 0:23 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpuacct,cpu
29 25 0:25 /docker/abc /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 25 0:27 /docker/abc /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids`;
const V1_SELF = `11:pids:/docker/abc
4:memory:/docker/abc
2:cpuacct,cpu:/docker/abc
`;

describe('mountinfo and /proc/self/cgroup', () => {
  it('parses the fields reapq needs, octal escapes included', () => {
    const [m] = parseMountinfo('41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime shared:3 - cgroup2 cgroup2 rw,nsdelegate');
    expect(m).toEqual({
      root: '/',
      mountPoint: '/sys/fs/cgroup/uni fied',
      mountOptions: ['rw', 'relatime'],
      fsType: 'cgroup2',
      superOptions: ['rw', 'nsdelegate'],
    });
    expect(parseProcCgroup(HYBRID_SELF)).toContainEqual({ hierarchy: 4, controllers: ['memory'], path: '/process_api/2651ec' });
    expect(parseProcCgroup(HYBRID_SELF)).toContainEqual({ hierarchy: 0, controllers: [], path: '/' });
    expect(parseFlatKeyed('populated 1\nfrozen 0\n')).toEqual({ populated: 1, frozen: 0 });
    expect(parsePids('12\n345\n\n')).toEqual([12, 345]);
  });
});

describe('layout', () => {
  it('pure v2: one hierarchy, the worker in its service cgroup, no v1', () => {
    const l = chooseLayout(parseMountinfo(PURE_V2), parseProcCgroup(PURE_V2_SELF));
    expect(l.v2).toEqual({
      version: 2,
      mountPoint: '/sys/fs/cgroup',
      home: '/sys/fs/cgroup/system.slice/reapq.service',
      path: '/system.slice/reapq.service',
      writable: true,
    });
    expect(l.v1).toEqual({});
    expect(limitSources(['memory', 'pids', 'cpu'], [])).toEqual({ memory: 'v2', cpus: 'v2', pidsMax: 'v2' });
  });

  it('hybrid: v2 for membership and kill, v1 hierarchies where the process sits in them', () => {
    const l = chooseLayout(parseMountinfo(HYBRID), parseProcCgroup(HYBRID_SELF));
    expect(l.v2?.home).toBe('/sys/fs/cgroup/unified');
    expect(l.v1.memory?.home).toBe('/sys/fs/cgroup/memory/process_api/2651ec');
    expect(l.v1.pids?.home).toBe('/sys/fs/cgroup/pids');
    expect(l.v1.cpu?.home).toBe('/sys/fs/cgroup/cpu');
    expect(l.v1.freezer?.home).toBe('/sys/fs/cgroup/freezer');
    // Only hugetlb in v2 here: limits come from v1.
    expect(limitSources([], ['memory', 'pids', 'cpu'])).toEqual({ memory: 'v1', cpus: 'v1', pidsMax: 'v1' });
  });

  it('v1 only, read-only and bind-mounted at the container cgroup: no v2, nothing writable', () => {
    const l = chooseLayout(parseMountinfo(V1_ONLY), parseProcCgroup(V1_SELF));
    expect(l.v2).toBeNull();
    expect(l.v1.memory).toEqual({
      version: 1,
      mountPoint: '/sys/fs/cgroup/memory',
      home: '/sys/fs/cgroup/memory',
      path: '/docker/abc',
      writable: false,
    });
    expect(l.v1.cpu?.home).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(limitSources([], [])).toEqual({ memory: null, cpus: null, pidsMax: null });
  });

  it('a mount that shows another part of the hierarchy does not reach the process', () => {
    const mi = '41 31 0:38 /other /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw';
    expect(chooseLayout(parseMountinfo(mi), parseProcCgroup('0::/mine\n')).v2).toBeNull();
    const sub = chooseLayout(
      parseMountinfo('41 31 0:38 /mine /sys/fs/cgroup rw - cgroup2 cgroup2 rw'),
      parseProcCgroup('0::/mine/worker\n'),
    );
    expect(sub.v2?.home).toBe('/sys/fs/cgroup/worker');
  });
});
