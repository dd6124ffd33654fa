// The monitoring profile: Prometheus' configuration (promtool check config), Grafana's provisioning,
// and the dashboard's queries, which must be valid PromQL (promtool check rules), use only the
// metrics cacheme exports, cover what the dashboard promises (hit rate, requests/s by source,
// latency percentiles, Redis/PostgreSQL state), and compute the right numbers on known series
// (promtool test rules).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { composeConfig, readYaml } from './lib/files.mjs';
import { REPO_ROOT, readRepoFile } from '../lib/repo.mjs';
import { run } from '../lib/process.mjs';
import { makeTempDir } from '../lib/util.mjs';

// What GET /metrics exports (see README.md, "Monitoring"), plus the `up` series Prometheus makes.
const METRICS = new Set([
  'cacheme_http_requests_total',
  'cacheme_http_request_duration_seconds_bucket',
  'cacheme_http_request_duration_seconds_sum',
  'cacheme_http_request_duration_seconds_count',
  'cacheme_cache_hits_total',
  'cacheme_cache_misses_total',
  'cacheme_db_queries_total',
  'cacheme_redis_up',
  'cacheme_postgres_up',
  'cacheme_circuit_breaker_state',
  'up',
]);
// PromQL words that look like metric names in an expression.
const KEYWORDS = new Set(['sum', 'min', 'max', 'avg', 'count', 'rate', 'irate', 'increase', 'histogram_quantile', 'by', 'without',
  'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'clamp_min', 'clamp_max', 'le', 'bool', 'offset']);

const dashboard = JSON.parse(readRepoFile('deploy/grafana/dashboards/cacheme.json'));
const panels = dashboard.panels;
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, ...t })));

/** The expression with Grafana's variables replaced by what they stand for, for promtool. */
function concrete(expr) {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*');
}

/** Metric names an expression reads: identifiers outside braces, strings and [ranges]. */
function metricNames(expr) {
  const bare = expr.replace(/\{[^}]*\}/g, '').replace(/"[^"]*"/g, '').replace(/\[[^\]]*\]/g, '').replace(/\bby\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((w) => !KEYWORDS.has(w) && !/^\d/.test(w));
}

let tmp;
before(() => {
  tmp = makeTempDir('deploy-monitoring');
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('Prometheus', () => {
  test('promtool check config accepts deploy/prometheus/prometheus.yml', async () => {
    const r = await run('promtool', ['check', 'config', path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  test('it scrapes /metrics of every backend replica, found through DNS', async () => {
    const prom = await readYaml('deploy/prometheus/prometheus.yml');
    const job = prom.scrape_configs.find((j) => j.job_name === 'cacheme');
    assert.ok(job, 'job cacheme');
    assert.equal(job.metrics_path, '/metrics');
    assert.deepEqual(job.dns_sd_configs.map((d) => [d.names, d.type, d.port]), [[['backend'], 'A', 8000]]);
    const compose = await composeConfig({ profiles: ['monitoring'] });
    assert.equal(compose.code, 0, compose.stderr);
    const s = compose.config.services;
    assert.ok(s.backend.expose.map(String).includes('8000'), 'the backend listens on 8000');
    assert.ok(s.prometheus.volumes.map(String).includes(`${path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml')}:/etc/prometheus/prometheus.yml:ro`));
    assert.ok(s.prometheus.command.includes('--config.file=/etc/prometheus/prometheus.yml'));
  });
});

describe('Grafana', () => {
  test('provisioning: the Prometheus data source and the dashboard directory are what compose mounts', async () => {
    const compose = await composeConfig({ profiles: ['monitoring'] });
    const mounts = compose.config.services.grafana.volumes.map(String);
    assert.ok(mounts.includes(`${path.join(REPO_ROOT, 'deploy/grafana/provisioning')}:/etc/grafana/provisioning:ro`));
    assert.ok(mounts.includes(`${path.join(REPO_ROOT, 'deploy/grafana/dashboards')}:/etc/grafana/dashboards:ro`));
    const ds = await readYaml('deploy/grafana/provisioning/datasources/prometheus.yml');
    assert.equal(ds.apiVersion, 1);
    assert.equal(ds.datasources.length, 1);
    assert.equal(ds.datasources[0].type, 'prometheus');
    assert.equal(ds.datasources[0].url, 'http://prometheus:9090');
    const providers = await readYaml('deploy/grafana/provisioning/dashboards/cacheme.yml');
    assert.equal(providers.providers[0].options.path, '/etc/grafana/dashboards');
    const home = compose.config.services.grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    assert.equal(home, '/etc/grafana/dashboards/cacheme.json');
    // Every panel and query uses the provisioned data source.
    for (const p of panels) {
      assert.equal(p.datasource.uid, ds.datasources[0].uid, `panel ${p.title}`);
      for (const t of p.targets) assert.equal(t.datasource.uid, ds.datasources[0].uid, `query of ${p.title}`);
    }
  });

  test('the dashboard is well formed: unique ids, panels inside the 24-column grid, a uid', () => {
    assert.ok(dashboard.uid);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
    for (const p of panels) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the grid`);
      assert.ok(p.targets.length > 0, `${p.title} has a query`);
    }
  });

  test('every query reads only metrics that cacheme exports', () => {
    for (const t of targets) {
      for (const name of metricNames(t.expr)) assert.ok(METRICS.has(name), `${t.panel.title}: unknown metric ${name} in ${t.expr}`);
    }
  });

  test('the panels the issue asks for: hit rate, requests/s by source, latency percentiles, Redis and PostgreSQL state', () => {
    const find = (re) => targets.filter((t) => re.test(t.expr));
    assert.ok(find(/cacheme_cache_hits_total.*\/.*cacheme_cache_misses_total/s).length > 0, 'hit rate');
    assert.ok(find(/sum by \(source\) \(rate\(cacheme_http_requests_total/).length > 0, 'requests/s by source');
    for (const q of ['0.5', '0.95', '0.99']) {
      assert.ok(find(new RegExp(`histogram_quantile\\(${q.replace('.', '\\.')}, .*cacheme_http_request_duration_seconds_bucket`)).length > 0, `p${q}`);
    }
    assert.ok(find(/histogram_quantile\(.*sum by \(le, source\)/).length > 0, 'latency by source');
    assert.ok(find(/cacheme_redis_up/).length > 0, 'Redis state');
    assert.ok(find(/cacheme_postgres_up/).length > 0, 'PostgreSQL state');
    assert.ok(find(/cacheme_circuit_breaker_state/).length > 0, 'circuit breaker');
    assert.ok(find(/sum by \(instance\)/).length > 0, 'per instance');
  });

  test('promtool check rules: every query is valid PromQL', async () => {
    const rules = targets.map((t, i) => ({ record: `cacheme:dashboard:check_${i}`, expr: concrete(t.expr) }));
    const file = path.join(tmp, 'dashboard-rules.yml');
    // JSON is YAML.
    fs.writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }, null, 2));
    const r = await run('promtool', ['check', 'rules', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  test('promtool test rules: hit rate and requests/s by source compute the right numbers', async () => {
    const hitRate = targets.find((t) => t.panel.type === 'stat' && /cacheme_cache_hits_total/.test(t.expr));
    const bySource = targets.find((t) => /sum by \(source\) \(rate\(cacheme_http_requests_total/.test(t.expr));
    const p95 = targets.find((t) => t.panel.type === 'stat' && /histogram_quantile\(0\.95/.test(t.expr));
    const rulesFile = path.join(tmp, 'rules.yml');
    fs.writeFileSync(rulesFile, JSON.stringify({
      groups: [{
        name: 'dashboard',
        rules: [
          { record: 'dashboard:hit_rate', expr: concrete(hitRate.expr) },
          { record: 'dashboard:requests_by_source', expr: concrete(bySource.expr) },
          { record: 'dashboard:p95', expr: concrete(p95.expr) },
        ],
      }],
    }));
    // Two replicas over 5 minutes: 30 hits and 10 misses a minute in all (hit rate 0.75); requests
    // at 3/s from the cache and 1/s from the database; every request in the 5-10 ms bucket.
    const series = [
      ['cacheme_cache_hits_total{instance="a:8000"}', '0+20x5'],
      ['cacheme_cache_hits_total{instance="b:8000"}', '0+10x5'],
      ['cacheme_cache_misses_total{instance="a:8000"}', '0+5x5'],
      ['cacheme_cache_misses_total{instance="b:8000"}', '0+5x5'],
      ['cacheme_http_requests_total{instance="a:8000",route="/products/{id}",status="200",source="cache"}', '0+180x5'],
      ['cacheme_http_requests_total{instance="a:8000",route="/products/{id}",status="200",source="database"}', '0+60x5'],
      ['cacheme_http_request_duration_seconds_bucket{instance="a:8000",route="/products/{id}",source="cache",le="0.005"}', '0+0x5'],
      ['cacheme_http_request_duration_seconds_bucket{instance="a:8000",route="/products/{id}",source="cache",le="0.01"}', '0+100x5'],
      ['cacheme_http_request_duration_seconds_bucket{instance="a:8000",route="/products/{id}",source="cache",le="+Inf"}', '0+100x5'],
    ];
    const testFile = path.join(tmp, 'rules.test.yml');
    fs.writeFileSync(testFile, JSON.stringify({
      rule_files: [rulesFile],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: series.map(([s, values]) => ({ series: s, values })),
        promql_expr_test: [
          { expr: 'dashboard:hit_rate', eval_time: '4m', exp_samples: [{ labels: 'dashboard:hit_rate', value: 0.75 }] },
          {
            expr: 'dashboard:requests_by_source',
            eval_time: '4m',
            exp_samples: [
              { labels: 'dashboard:requests_by_source{source="cache"}', value: 3 },
              { labels: 'dashboard:requests_by_source{source="database"}', value: 1 },
            ],
          },
          // Linear interpolation inside the 5-10 ms bucket: 5 ms + 0.95 × 5 ms.
          { expr: 'dashboard:p95', eval_time: '4m', exp_samples: [{ labels: 'dashboard:p95', value: 0.00975 }] },
        ],
      }],
    }));
    const r = await run('promtool', ['test', 'rules', testFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });
});
