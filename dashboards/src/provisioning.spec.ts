import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ALERT_FOLDER, ALERT_RULES_FILE, DASHBOARD_UIDS, EXPRESSIONS, PROMETHEUS, TIMESCALEDB, dashboards } from '.';

/**
 * The provisioning Grafana and Prometheus read under `docker compose up`: files parse, every uid,
 * path, mount and scrape target something refers to exists, and the dashboards are shaped the way
 * Grafana 11 imports them.
 */

const ROOT = resolve(__dirname, '../..');
const DIR = join(ROOT, 'dashboards');
// `merge`: docker-compose.yml shares the app services' settings through `<<:` merge keys.
const yaml = (path: string) => parse(readFileSync(path, 'utf8'), { merge: true });
const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(dir, f));

type Json = Record<string, any>;

const compose = yaml(join(ROOT, 'docker-compose.yml'));
const services: Record<string, Json> = compose.services;
const datasources: Json[] = yamlFiles(join(DIR, 'provisioning/datasources')).flatMap((f) => yaml(f).datasources);
const providers: Json[] = yamlFiles(join(DIR, 'provisioning/dashboards')).flatMap((f) => yaml(f).providers);
const alerting: Json[] = yamlFiles(join(DIR, 'provisioning/alerting')).map(yaml);
const committed: Json[] = dashboards().map(({ file }) => JSON.parse(readFileSync(join(DIR, file), 'utf8')));

/** A service's bind mounts as [host path, container path] (named volumes left out). */
function bindMounts(service: Json): [string, string][] {
  return (service.volumes ?? [])
    .map((v: string) => v.split(':'))
    .filter(([host]: string[]) => host.startsWith('.') || host.startsWith('/'))
    .map(([host, container]: string[]) => [resolve(ROOT, host), container]);
}

/** Container ports a service publishes ("host:container"). */
const containerPorts = (service: Json): number[] => (service.ports ?? []).map((p: string) => Number(String(p).split(':').pop()));

/** The host path a container path of a service comes from, through its bind mounts. */
function hostPath(service: Json, containerPath: string): string | null {
  for (const [host, container] of bindMounts(service)) {
    if (containerPath === container) return host;
    if (containerPath.startsWith(`${container}/`)) return join(host, containerPath.slice(container.length + 1));
  }
  return null;
}

describe('docker-compose.yml', () => {
  it('mounts only paths that exist', () => {
    const missing = Object.entries(services).flatMap(([name, s]) =>
      bindMounts(s)
        .filter(([host]) => !existsSync(host))
        .map(([host]) => `${name}: ${host}`),
    );
    expect(missing).toEqual([]);
  });

  it('gives Grafana the provisioning directory and the generated dashboards', () => {
    expect(services.grafana.image).toMatch(/^grafana\/grafana:(1[1-9]|[2-9]\d)\./);
    expect(hostPath(services.grafana, '/etc/grafana/provisioning')).toBe(join(DIR, 'provisioning'));
    expect(Object.keys(services.grafana.depends_on)).toEqual(expect.arrayContaining(['timescaledb', 'prometheus']));
  });

  it('gives Prometheus the scrape configuration its command names', () => {
    const flag = (services.prometheus.command as string[]).find((c) => c.startsWith('--config.file='))!;
    expect(hostPath(services.prometheus, flag.slice('--config.file='.length))).toBe(join(DIR, 'prometheus/prometheus.yml'));
  });
});

describe('Prometheus scrape configuration', () => {
  const config = yaml(join(DIR, 'prometheus/prometheus.yml'));
  const targets: { target: string; service?: string }[] = config.scrape_configs.flatMap((job: Json) =>
    job.static_configs.flatMap((sc: Json) => sc.targets.map((target: string) => ({ target, service: sc.labels?.service }))),
  );

  it('scrapes every Arbiter service of the compose file at a port it publishes', () => {
    const apps = Object.entries(services)
      .filter(([, s]) => s.image === 'arbiter:local')
      .map(([name]) => name);
    expect(targets.map((t) => t.target.split(':')[0]).sort()).toEqual(apps.sort());
    for (const { target, service } of targets) {
      const [host, port] = target.split(':');
      expect(containerPorts(services[host])).toContain(Number(port));
      expect(service).toBe(host); // the `service` label the dashboards group by
    }
  });

  it('has the job name the dashboards select on', () => {
    const jobs = new Set(config.scrape_configs.map((j: Json) => j.job_name));
    const selected = committed.flatMap((d) =>
      d.panels.flatMap((p: Json) =>
        (p.targets ?? []).flatMap((t: Json) => [...String(t.expr ?? '').matchAll(/job="([^"]+)"/g)].map((m) => m[1])),
      ),
    );
    expect(selected.length).toBeGreaterThan(0);
    for (const job of selected) expect(jobs).toContain(job);
  });
});

describe('datasource provisioning', () => {
  it('defines unique uids, including the two the dashboards and alert rules use', () => {
    const uids = datasources.map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const ref of [TIMESCALEDB, PROMETHEUS]) expect(datasources.find((d) => d.uid === ref.uid)?.type).toBe(ref.type);
  });

  it('points TimescaleDB at the compose database, with TimescaleDB macros on', () => {
    const ds = datasources.find((d) => d.uid === TIMESCALEDB.uid)!;
    const [host, port] = ds.url.split(':');
    expect(containerPorts(services[host])).toContain(Number(port));
    expect(ds.jsonData).toMatchObject({ timescaledb: true, database: services[host].environment.POSTGRES_DB });
    expect(ds.user).toBe(services[host].environment.POSTGRES_USER);
  });

  it('points Prometheus at the compose Prometheus', () => {
    const url = new URL(datasources.find((d) => d.uid === PROMETHEUS.uid)!.url);
    expect(containerPorts(services[url.hostname])).toContain(Number(url.port));
  });
});

describe('dashboard provisioning', () => {
  it('reads the generated dashboards from where compose mounts them, into the alert rules’ folder', () => {
    expect(providers).toHaveLength(1);
    const [provider] = providers;
    expect(provider.type).toBe('file');
    expect(provider.folder).toBe(ALERT_FOLDER);
    expect(hostPath(services.grafana, provider.options.path)).toBe(join(DIR, 'json'));
  });
});

describe('dashboards', () => {
  const knownDatasources = new Set(datasources.map((d) => d.uid));
  const byUid = new Map(committed.map((d) => [d.uid, d]));

  it('have unique, stable uids and a Grafana 11 schema', () => {
    expect([...byUid.keys()].sort()).toEqual(Object.values(DASHBOARD_UIDS).sort());
    for (const d of committed) {
      expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
      expect(d.title).toMatch(/^Arbiter/);
      expect(Array.isArray(d.templating.list)).toBe(true);
      expect(d.annotations.list.some((a: Json) => a.builtIn === 1)).toBe(true);
    }
  });

  it.each(committed.map((d) => [d.title, d]))('%s: every panel, target and variable names a provisioned datasource', (_, d) => {
    const problems: string[] = [];
    const ids = new Set<number>();
    for (const p of d.panels as Json[]) {
      if (ids.has(p.id)) problems.push(`duplicate panel id ${p.id}`);
      ids.add(p.id);
      if (p.type === 'row') continue;
      if (!knownDatasources.has(p.datasource?.uid)) problems.push(`${p.title}: datasource ${JSON.stringify(p.datasource)}`);
      if (!p.targets?.length) problems.push(`${p.title}: no query`);
      for (const t of p.targets ?? []) {
        if (!knownDatasources.has((t.datasource ?? p.datasource)?.uid)) problems.push(`${p.title} ${t.refId}: datasource`);
        if (t.datasource?.uid === TIMESCALEDB.uid) {
          if (!(t.rawQuery === true && t.editorMode === 'code' && ['time_series', 'table'].includes(t.format) && t.rawSql))
            problems.push(`${p.title} ${t.refId}: not a raw SQL query`);
        } else if (t.datasource?.uid === PROMETHEUS.uid && !t.expr) problems.push(`${p.title} ${t.refId}: no expression`);
      }
      const refIds = (p.targets ?? []).map((t: Json) => t.refId);
      if (new Set(refIds).size !== refIds.length) problems.push(`${p.title}: duplicate refIds`);
    }
    for (const v of d.templating.list) if (!knownDatasources.has(v.datasource?.uid)) problems.push(`variable ${v.name}: datasource`);
    expect(problems).toEqual([]);
  });

  it.each(committed.map((d) => [d.title, d]))('%s: panels fit the 24-column grid without overlapping', (_, d) => {
    const cells = new Map<string, string>();
    const problems: string[] = [];
    for (const p of d.panels as Json[]) {
      const { x, y, w, h } = p.gridPos;
      if (x < 0 || w < 1 || x + w > 24) problems.push(`${p.title}: x ${x} w ${w}`);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          const other = cells.get(`${i},${j}`);
          if (other) problems.push(`${p.title} overlaps ${other}`);
          cells.set(`${i},${j}`, p.title);
        }
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  it('link only to dashboards and variables that exist', () => {
    const links = committed.flatMap((d) =>
      d.panels.flatMap((p: Json) =>
        (p.fieldConfig?.overrides ?? []).flatMap((o: Json) =>
          o.properties
            .filter((prop: Json) => prop.id === 'links')
            .flatMap((prop: Json) => prop.value.map((l: Json) => ({ from: `${d.title} › ${p.title}`, url: l.url as string }))),
        ),
      ),
    );
    expect(links.length).toBeGreaterThan(5);
    for (const { from, url } of links) {
      const m = /^\/d\/([^/?]+)\/[^?]+\?(.*)$/.exec(url);
      expect([from, m && byUid.has(m[1])]).toEqual([from, true]);
      const target = byUid.get(m![1])!;
      const names = new Set(target.templating.list.map((v: Json) => v.name));
      for (const [, name] of m![2].matchAll(/var-(\w+)=/g)) expect([from, name, names.has(name)]).toEqual([from, name, true]);
      expect(url).toContain('${__url_time_range}');
    }
  });

  it('give the Partner value variables a custom all value that the SQL treats as "no filter"', () => {
    const partner = byUid.get(DASHBOARD_UIDS.partnerValue)!;
    expect(partner.templating.list.map((v: Json) => v.name).sort()).toEqual(['advertiser', 'offer', 'publisher']);
    for (const v of partner.templating.list) {
      expect(v).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: `'__all'` });
      const filtered = partner.panels.filter((p: Json) =>
        (p.targets ?? []).some((t: Json) => String(t.rawSql).includes(`IN ($${v.name})`)),
      );
      expect(filtered.length).toBeGreaterThan(20);
    }
  });
});

describe('alert rule provisioning', () => {
  const file = join(DIR, ALERT_RULES_FILE);
  const rules: Json[] = alerting.flatMap((a) => a.groups.flatMap((g: Json) => g.rules));

  it('is one group in the dashboards’ folder', () => {
    expect(statSync(file).isFile()).toBe(true);
    for (const a of alerting) expect(a.apiVersion).toBe(1);
    const groups = alerting.flatMap((a) => a.groups);
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ orgId: 1, name: 'arbiter', folder: ALERT_FOLDER, interval: '1m' });
  });

  it('covers fraud-rate jumps, stalled ingestion, a growing hold queue, dead letters, full streams, models, owed revisions and rollups', () => {
    expect(rules.map((r) => r.uid).sort()).toEqual(
      expect.arrayContaining([
        'arbiter-dlq-not-empty',
        'arbiter-hold-queue-growing',
        'arbiter-ingestion-stalled',
        'arbiter-publisher-fraud-jump',
        'arbiter-stream-nearly-full',
        'arbiter-stream-trim-blocked',
        'arbiter-model-active-not-loaded',
        'arbiter-model-api-not-loaded',
        'arbiter-model-shadow-not-loaded',
        'arbiter-model-versions-differ',
        'arbiter-revisions-owed',
        'arbiter-rollups-lagging',
        'arbiter-rollup-refreshes-deferred',
      ]),
    );
    expect(new Set(rules.map((r) => r.uid)).size).toBe(rules.length);
  });

  // The API loads the active model too, for backtests only: a load it cannot make warns (decisions are
  // the scorers', which page), and the text says what clears it (the API's background retry).
  it('warns for an active model the API cannot load, and pages only for one a scorer cannot', () => {
    const expr = (uid: string) =>
      (rules.find((r) => r.uid === uid)!.data as Json[]).find((q) => q.datasourceUid === PROMETHEUS.uid)!.model.expr;
    const scorer = rules.find((r) => r.uid === 'arbiter-model-active-not-loaded')!;
    expect(expr(scorer.uid)).toBe('max(arbiter_model_load_failing{side="active",loader="scorer"})');
    expect(scorer.labels).toMatchObject({ severity: 'critical' });
    const api = rules.find((r) => r.uid === 'arbiter-model-api-not-loaded')!;
    expect(expr(api.uid)).toBe('max(arbiter_model_load_failing{side="active",loader="api"})');
    expect(api.labels).toMatchObject({ severity: 'warning' });
    expect(api.annotations.description).toMatch(/retries in the background/);
    expect(api.annotations.description).not.toMatch(/run one again/);
  });

  // The bound is the deployment's (each recorder exports what its configuration allows), and a
  // recorder's first refresh since start (a history rebuild may take long) is left alone for a while.
  it('compares each recorder’s rollup lag with the bound its own configuration exports, sparing a first refresh', () => {
    const rule = rules.find((r) => r.uid === 'arbiter-rollups-lagging')!;
    const [query] = (rule.data as Json[]).filter((q) => q.datasourceUid === PROMETHEUS.uid);
    expect(query.model.expr).toBe(
      'max((time() - arbiter_rollups_refreshed_timestamp_seconds - arbiter_rollups_lag_bound_seconds)' +
        ' unless (time() - arbiter_rollups_first_refresh_started_timestamp_seconds < 3600))',
    );
    const threshold = (rule.data as Json[]).find((q) => q.model.type === 'threshold')!;
    expect(threshold.model.conditions[0].evaluator.params).toEqual([150]);
  });

  it.each(rules.map((r) => [r.title, r]))('%s is complete and refers to what exists', (_, rule) => {
    const known = new Set([...datasources.map((d) => d.uid), EXPRESSIONS.uid]);
    expect(rule).toMatchObject({
      uid: expect.stringMatching(/^[a-zA-Z0-9-_]{1,40}$/),
      condition: expect.any(String),
      for: expect.stringMatching(/^\d+[smh]$/),
      noDataState: expect.stringMatching(/^(OK|Alerting|NoData|KeepLast)$/),
      execErrState: expect.stringMatching(/^(OK|Alerting|Error|KeepLast)$/),
      labels: { severity: expect.any(String) },
      annotations: { summary: expect.any(String), description: expect.any(String) },
    });
    // Grafana expands environment variables ($NAME) in rule labels (not in annotations or query models).
    expect(JSON.stringify(rule.labels)).not.toContain('$');
    const refIds: string[] = rule.data.map((q: Json) => q.refId);
    expect(refIds).toContain(rule.condition);
    for (const [i, q] of (rule.data as Json[]).entries()) {
      expect(known.has(q.datasourceUid)).toBe(true);
      expect(q.model.refId).toBe(q.refId);
      expect(q.relativeTimeRange.from).toBeGreaterThan(q.relativeTimeRange.to);
      if (q.datasourceUid === EXPRESSIONS.uid) expect(refIds.slice(0, i)).toContain(q.model.expression);
      else expect(q.model.datasource.uid).toBe(q.datasourceUid);
    }
    const dashboard = committed.find((d) => d.uid === rule.dashboardUid);
    expect(dashboard?.panels.some((p: Json) => p.id === rule.panelId && p.type !== 'row')).toBe(true);
  });
});
