import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { hostState, makeMetrics } from '../../src/producer/http/metrics.js';
import type { ReapqClient } from '../../src/producer/client.js';
import type { HostInfo } from '../../src/shared/hosts.js';

const DIR = join(import.meta.dirname, '../../deploy/monitoring');
const RULES = join(DIR, 'alerts.yml');
const RULES_TESTS = join(DIR, 'alerts.test.yml');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules: Rule[] = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);

interface Panel {
  title: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; datasource?: { uid?: string } }>;
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown; definition?: string }> };
}
const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as Dashboard;

// The names the api registers, read from its registry (no scrape, so no Redis: the client is never called).
const registered = new Set(
  makeMetrics({} as ReapqClient)
    .getMetricsAsArray()
    .map((m) => m.name),
);
// Prometheus' own series for a scrape target.
const PROMETHEUS_OWN = new Set(['up']);
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression reads (label matchers, ranges, groupings, strings and functions left out). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const name = m[1]!;
    // Followed by '(': a function or aggregation, not a series.
    if (!m[2] && !KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

const unknown = (expr: string) => metricNames(expr).filter((n) => !registered.has(n) && !PROMETHEUS_OWN.has(n));

const dashboardExprs = (): string[] => [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.templating.list.flatMap((v) => {
    // label_values(metric, label): only the first argument is a metric.
    const m = /label_values\(\s*([\w:]+)/.exec(v.definition ?? '');
    return m ? [m[1]!] : [];
  }),
];

describe('monitoring: names', () => {
  it('reads metric names out of PromQL, so a renamed metric is caught', () => {
    expect(metricNames('sum by (host) (increase(reapq_restarts_total{job="x"}[15m])) > 10')).toEqual(['reapq_restarts_total']);
    expect(
      metricNames('sum by (queue) (reapq_queue_jobs{status="waiting"}) > 0 and sum by (queue) (reapq_queue_jobs{status="active"}) == 0'),
    ).toEqual(['reapq_queue_jobs']);
    expect(metricNames('rate(a_total[$__rate_interval]) / on(host) group_left b')).toEqual(['a_total', 'b']);
    expect(unknown('sum(reapq_process_count) or up')).toEqual(['reapq_process_count']);
  });

  it('uses in every alert rule only metrics the api registers', () => {
    expect(rules.length).toBeGreaterThanOrEqual(5);
    for (const r of rules) {
      expect(metricNames(r.expr).length, r.alert).toBeGreaterThan(0);
      expect(unknown(r.expr), r.alert).toEqual([]);
    }
  });

  it('uses in every dashboard panel and variable only metrics the api registers', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    for (const e of exprs) {
      expect(metricNames(e).length, e).toBeGreaterThan(0);
      expect(unknown(e), e).toEqual([]);
    }
  });

  it('alerts on host lost, crash loops, drift, queue backlog and stuck kills', () => {
    const metricsOf = (alert: string) => metricNames(rules.find((r) => r.alert === alert)?.expr ?? '');
    expect(metricsOf('ReapqHostLost')).toEqual(['reapq_host_state']);
    expect(metricsOf('ReapqCrashLoop')).toEqual(['reapq_restarts_total']);
    expect(metricsOf('ReapqCrashLoopGaveUp')).toEqual(['reapq_crash_loop_gave_up_total']);
    expect(metricsOf('ReapqDrift')).toEqual(['reapq_drift_total']);
    expect(metricsOf('ReapqQueueBacklog')).toEqual(['reapq_queue_jobs']);
    expect(metricsOf('ReapqKillPendingStuck')).toEqual(['reapq_kill_pending_processes']);
    for (const r of rules) {
      expect(r.for, r.alert).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description?.length ?? 0, r.alert).toBeGreaterThan(100);
    }
  });

  it('is a dashboard on a datasource variable, every panel on it', () => {
    expect(dashboard.uid).toBe('reapq-fleet');
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Processes by state', 'Drift repaired', 'Queue backlog', 'Host state', 'Kill pending by host'])
      expect(titles).toContain(t);
    for (const p of dashboard.panels) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${datasource}');
    }
  });
});

describe('monitoring: host state', () => {
  const host = (state: HostInfo['state'], alive: boolean) => ({ hostId: 'h', state, alive }) as HostInfo;
  it('is the heartbeat word while it beats, down after a clean shutdown, lost once expired', () => {
    expect(hostState(host('up', true))).toBe('up');
    expect(hostState(host('draining', true))).toBe('draining');
    expect(hostState(host('down', false))).toBe('down');
    expect(hostState(host('up', false))).toBe('lost');
    expect(hostState(host('draining', false))).toBe('lost');
  });
});

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!promtool)(
  `monitoring: promtool${promtool ? '' : ' (skipped: promtool is not on PATH; Debian: apt-get install prometheus)'}`,
  () => {
    it('checks the rules', () => {
      const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
      expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
    });

    it('runs the rules unit tests (host lost, host down, queue backlog, queue not consumed, crash loops, kill pending, drift)', () => {
      const r = spawnSync('promtool', ['test', 'rules', RULES_TESTS], { encoding: 'utf8' });
      expect(r.stdout + r.stderr).toContain('SUCCESS');
      expect(r.status, r.stdout + r.stderr).toBe(0);
    });

    it('fails a rules unit test that expects what the rules do not do', () => {
      // The check above can fail: the same input expecting the host-lost alert a minute early.
      const broken = readFileSync(RULES_TESTS, 'utf8').replace(
        '- eval_time: 3m\n        alertname: ReapqHostLost\n        exp_alerts: []',
        '- eval_time: 3m\n        alertname: ReapqHostLost\n        exp_alerts:\n          - exp_labels: { host: h2 }',
      );
      expect(broken).not.toBe(readFileSync(RULES_TESTS, 'utf8'));
      const dir = mkdtempSync(join(tmpdir(), 'reapq-promtool-'));
      try {
        const file = join(dir, 'broken.test.yml');
        writeFileSync(file, broken.replace('  - alerts.yml', `  - ${RULES}`));
        const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
        expect(r.status).not.toBe(0);
        expect(r.stdout + r.stderr).toMatch(/FAILED:\s+alertname: ReapqHostLost, time: 3m/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
