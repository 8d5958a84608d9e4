import fc from 'fast-check';
import { jetstreamManager } from '@nats-io/jetstream';
import { routesOf } from '@app/http';
import { ADMIN_KEY, TestEngine, bootEngine } from '../e2e/support/engine';
import { Tenant, call, seedTenant } from '../e2e/support/tenants';

/**
 * Issue 8: every HTTP endpoint of the gateway and the api, fuzzed with fast-check — arbitrary JSON,
 * documented examples with fields replaced by wrong types, odd and huge strings, unicode, arrays,
 * bad query and path parameters, wrong content types, malformed bodies, missing and wrong keys.
 * Whatever comes in: never a 5xx, every 4xx says what is wrong in the one error shape (field by
 * field when a schema refused it), and both services keep answering.
 *
 * The routes come from the running services (`routesOf`), their parameters and body examples from
 * the OpenAPI document, so a new endpoint is fuzzed without touching this file.
 */

const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 150);
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface Route {
  base: string;
  service: 'api' | 'gateway';
  method: string;
  url: string;
}

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> };
}

/** What a fuzzed request is; printed as the counterexample when a property fails. */
interface FuzzRequest {
  path: string;
  query: string;
  auth?: string;
  contentType?: string;
  body?: string;
}

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\u202e\u0041',
  '\ud800',
  '\udfff\ud800',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '-1',
  '0',
  '-0',
  '1e309',
  '9007199254740993',
  'NaN',
  'Infinity',
  '0x10',
  '../../etc/passwd',
  "'; DROP TABLE events; --",
  '%',
  '%zz',
  '%00',
  '__proto__',
  'constructor',
  '🙂🏳️‍🌈',
  'é'.normalize('NFD'),
  'a'.repeat(10_000),
  '2026-02-30T25:61:00Z',
  '9999-12-31T23:59:59Z',
  '+275760-09-13T00:00:00.001Z',
  '-271821-04-20T00:00:00Z',
  '1970-01-01',
  '2026-01-01T00:00:00+99:00',
];

const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(...ODD_STRINGS),
  fc.integer().map(String),
  fc.double().map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.string({ unit: 'grapheme-ascii', minLength: 1000, maxLength: 70_000 }),
);

const oddNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324, 2 ** 31, 2 ** 53),
);

/** Any JSON value, weighted towards the shapes validators trip over. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 3 },
  { arbitrary: oddString, weight: 3 },
  { arbitrary: oddNumber, weight: 2 },
  {
    arbitrary: fc.constantFrom(
      null,
      true,
      false,
      [],
      {},
      [[[]]],
      JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{}}}'),
    ),
    weight: 1,
  },
  { arbitrary: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }), weight: 1 },
  { arbitrary: fc.dictionary(oddString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), weight: 1 },
);

type Mutation = { pick: number; value: unknown; remove: boolean; nested: boolean };
const mutation: fc.Arbitrary<Mutation> = fc.record({ pick: fc.nat(), value: anyValue, remove: fc.boolean(), nested: fc.boolean() });

/** The example with some fields replaced by anything, removed, or added (one level into objects and arrays too). */
function mutate(example: unknown, mutations: Mutation[]): unknown {
  const copy = structuredClone(example);
  for (const m of mutations) {
    let target: unknown = copy;
    if (m.nested && target && typeof target === 'object') {
      const children = Object.values(target).filter((v) => v && typeof v === 'object');
      if (children.length) target = children[m.pick % children.length];
    }
    // Generated values may be shared instances (constants): copy, or a later mutation could make a cycle.
    const value = structuredClone(m.value);
    if (!target || typeof target !== 'object') return value;
    const keys = Object.keys(target);
    const key = m.pick % (keys.length + 1) === keys.length ? `extra${m.pick % 7}` : keys[m.pick % (keys.length + 1)];
    if (m.remove) delete (target as Record<string, unknown>)[key];
    else (target as Record<string, unknown>)[key] = value;
  }
  return copy;
}

const MALFORMED_JSON = [
  '{',
  '{"a":',
  '[1,',
  '{"a":1,}',
  "{'a':1}",
  'nul',
  'tru',
  '"unterminated',
  '\u0000',
  '\ufeff{}',
  '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"x":1}}}',
  '{"a":1,"a":2}',
  '1e99999',
  '[' + '['.repeat(20_000) + ']'.repeat(20_000) + ']',
  '{"a":' + '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_001),
];

const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'application/jsonp',
  'application/merge-patch+json',
  '*/*',
  'garbage',
];

describe('HTTP edges under fuzzing (engine in-process)', () => {
  let t: TestEngine;
  let tenant: Tenant;
  let routes: Route[];
  let operations: Record<string, Record<string, Operation>>;
  let conversionId: string;

  beforeAll(async () => {
    // Rate limits out of the way: the fuzzer is one client sending thousands of requests.
    t = await bootEngine({
      config: {
        API_RATE_LIMIT_PER_MINUTE: 1_000_000,
        API_RATE_LIMIT_PER_IP_PER_MINUTE: 10_000_000,
        GATEWAY_RATE_LIMIT_PER_ADDRESS_PER_MINUTE: 10_000_000,
        GATEWAY_RATE_LIMIT_PER_KEY_PER_MINUTE: 10_000_000,
      },
    });
    tenant = await seedTenant(t, 'fuzz');
    const doc = await call(t.api, 'GET', '/openapi.json');
    operations = doc.body.paths;
    routes = [
      ...routesOf(t.engine.http.api).map((r) => ({ base: t.api, service: 'api' as const, ...r })),
      ...routesOf(t.engine.http.gateway).map((r) => ({ base: t.gateway, service: 'gateway' as const, ...r })),
    ].filter((r) => !r.url.startsWith('/docs'));
    // A real conversion, so that path and body parameters can name one that exists.
    const click = await call(t.gateway, 'POST', '/v1/clicks', ADMIN_KEY, {
      offerId: tenant.offerId,
      publisherId: tenant.publisherId,
      ip: '8.8.4.4',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    });
    const conversion = await call(t.gateway, 'POST', '/v1/conversions', ADMIN_KEY, { clickId: click.body.id, amount: 10 });
    conversionId = conversion.body.id;
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  const operation = (r: Route): Operation | undefined => operations[r.url.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];

  function requestsFor(r: Route): fc.Arbitrary<FuzzRequest> {
    const op = operation(r);
    const known = [tenant.offerId, tenant.publisherId, tenant.advertiserId, tenant.advertiserKeyId, conversionId];
    const segment = fc.oneof(
      oddString.filter((s) => s.length > 0).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))),
      fc.constantFrom(...known, '%zz', '%', '%E0%A4%A', '..', '%2e%2e', '%2F', ';', '*'),
    );
    const path = fc.tuple(...[...r.url.matchAll(/:(\w+)/g)].map(() => segment)).map((values) => {
      let i = 0;
      return r.url.replace(/:(\w+)/g, () => values[i++]);
    });
    const names = [...(op?.parameters ?? []).filter((p) => p?.in === 'query').map((p) => p.name), 'limit', 'cursor', 'from', 'to'];
    const query = fc.oneof(
      fc
        .array(fc.tuple(fc.oneof(fc.constantFrom(...names), fc.string()), fc.oneof(oddString, fc.constantFrom(...known))), { maxLength: 6 })
        .map((pairs) => {
          const q = new URLSearchParams();
          for (const [k, v] of pairs) q.append(k, v.replace(/[\ud800-\udfff]/g, 'x'));
          return q.toString();
        }),
      fc.constantFrom(
        '%zz=1',
        'limit=%',
        '&&&=',
        'a[b]=1&a[0]=2',
        'limit=1&limit=2',
        'from=2026-01-01&from=x',
        'cursor=' + '%41'.repeat(5000),
      ),
    );
    // Real keys half the time: since ingest authenticates (DESIGN §3a), only the right key gets an
    // event through, and the last test needs the accept path exercised, not only the refusals.
    const auth = fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom(`Bearer ${ADMIN_KEY}`, `Bearer ${tenant.advertiserKey}`, `Bearer ${tenant.publisherKey}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          undefined,
          'Bearer ',
          'Bearer x',
          `Basic ${ADMIN_KEY}`,
          `bearer ${ADMIN_KEY}`,
          `Bearer ${'k'.repeat(10_000)}`,
        ),
      },
    );
    const examples = Object.values(op?.requestBody?.content ?? {}).flatMap((c) => Object.values(c.examples ?? {}).map((e) => e.value));
    const json = (v: unknown) => ({ contentType: 'application/json', body: JSON.stringify(v) ?? 'null' });
    const bodies: fc.Arbitrary<Pick<FuzzRequest, 'contentType' | 'body'>>[] = [
      fc.constant({}),
      anyValue.map(json),
      fc.constantFrom(...MALFORMED_JSON).map((body) => ({ contentType: 'application/json', body })),
      fc
        .tuple(
          fc.constantFrom(...WRONG_CONTENT_TYPES),
          fc.oneof(
            anyValue.map((v) => JSON.stringify(v) ?? ''),
            oddString,
          ),
        )
        .map(([contentType, body]) => ({
          contentType,
          body,
        })),
      oddString.map((body) => ({ body })),
    ];
    if (examples.length) {
      const mutated = fc
        .tuple(fc.constantFrom(...examples), fc.array(mutation, { minLength: 1, maxLength: 3 }))
        .map(([e, m]) => mutate(e, m));
      bodies.push(mutated.map(json), mutated.map(json), fc.array(mutated, { minLength: 1, maxLength: 4 }).map(json));
    }
    const body = BODY_METHODS.has(r.method) ? fc.oneof(...bodies) : fc.constant({});
    return fc.record({ path, query, auth, body }).map(({ path, query, auth, body }) => ({ path, query, auth, ...body }));
  }

  async function send(r: Route, req: FuzzRequest): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {};
    if (req.auth !== undefined) headers.authorization = req.auth;
    if (req.contentType !== undefined) headers['content-type'] = req.contentType;
    const res = await fetch(`${r.base}${req.path}${req.query ? `?${req.query}` : ''}`, {
      method: r.method,
      headers,
      body: req.body,
      redirect: 'manual',
    });
    const text = await res.text();
    if (r.service === 'gateway' && res.status < 300) noteAccepted(r, text);
    return { status: res.status, text };
  }

  /** Ids of the events the gateway said it accepted: each must end up stored. */
  const accepted = { click: new Set<string>(), conversion: new Set<string>() };
  function noteAccepted(r: Route, text: string) {
    const kind = r.url === '/v1/clicks' ? 'click' : r.url === '/v1/conversions' || r.url === '/postback' ? 'conversion' : undefined;
    if (!kind) return;
    const body = JSON.parse(text);
    for (const item of Array.isArray(body.results) ? body.results : [body])
      if (item.id && (item.status ?? 'accepted') === 'accepted') accepted[kind].add(item.id);
  }

  /** What is wrong with an answer, if anything. */
  function problem(status: number, text: string): string | undefined {
    if (status >= 500) return `answered ${status}: ${text.slice(0, 300)}`;
    if (status < 400) return undefined;
    let body: { error?: unknown; message?: unknown; errors?: unknown };
    try {
      body = JSON.parse(text);
    } catch {
      return `answered ${status} without a JSON error body: ${text.slice(0, 300)}`;
    }
    if (typeof body?.error !== 'string' || typeof body.message !== 'string' || !body.message)
      return `answered ${status} without {error, message}: ${text.slice(0, 300)}`;
    if (body.error === 'validation_failed') {
      const errors = body.errors as { field?: unknown; message?: unknown }[] | undefined;
      if (
        !Array.isArray(errors) ||
        !errors.length ||
        errors.some((e) => typeof e?.field !== 'string' || typeof e.message !== 'string' || !e.message)
      )
        return `answered ${status} validation_failed without field-level errors: ${text.slice(0, 300)}`;
    }
    return undefined;
  }

  it('every route answers every fuzzed request without a 5xx, and every 4xx says what is wrong', async () => {
    expect(routes.length).toBeGreaterThan(30);
    const failures: string[] = [];
    const statuses = new Map<string, Set<number>>();
    for (const r of routes) {
      const name = `${r.service} ${r.method} ${r.url}`;
      const seen = new Set<number>();
      statuses.set(name, seen);
      try {
        await fc.assert(
          fc.asyncProperty(requestsFor(r), async (req) => {
            const { status, text } = await send(r, req);
            seen.add(status);
            const wrong = problem(status, text);
            if (wrong) throw new Error(wrong);
          }),
          { numRuns: RUNS_PER_ROUTE },
        );
      } catch (e) {
        const cause = (e as Error & { cause?: Error }).cause?.message ?? '';
        failures.push(`${name}: ${cause}\n${(e as Error).message.slice(0, 1500)}`);
      }
      // Still up after whatever this route was sent.
      const health = await call(r.base, 'GET', '/health');
      if (health.status !== 200) failures.push(`${name}: /health answered ${health.status} afterwards`);
    }
    expect(failures).toEqual([]);
    // Not all answers were refusals: the fuzzer also got through validation (mutated examples).
    const succeeded = [...statuses.values()].filter((s) => [...s].some((code) => code < 400)).length;
    expect(succeeded).toBeGreaterThan(routes.length / 2);
  }, 240_000);

  it('refuses oversize bodies with 413 and an error body on every route that takes one', async () => {
    const big = JSON.stringify({ offerId: 'x'.repeat(2 * 1_048_576) });
    for (const r of routes.filter((r) => BODY_METHODS.has(r.method))) {
      const res = await fetch(`${r.base}${r.url.replace(/:(\w+)/g, 'x')}`, {
        method: r.method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: big,
      });
      const text = await res.text();
      expect({ route: `${r.method} ${r.url}`, status: res.status, problem: problem(res.status, text) }).toEqual({
        route: `${r.method} ${r.url}`,
        status: 413,
        problem: undefined,
      });
    }
  });

  it('unknown routes and methods: 404 (400 for a NUL) with an error body, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        fc.constantFrom(t.api, t.gateway),
        fc.array(
          oddString.filter((s) => s.length > 0 && s.length < 200).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        async (method, base, segments) => {
          const res = await fetch(`${base}/zz/${segments.join('/')}`, { method, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
          const text = await res.text();
          // A NUL in the path is refused before routing (400, field-level); anything else is simply not found.
          const nul = segments.some((s) => decodeURIComponent(s).includes('\u0000'));
          expect(res.status).toBe(nul ? 400 : 404);
          expect(problem(res.status, text)).toBeUndefined();
        },
      ),
      { numRuns: 100 },
    );
  });

  it('everything the fuzzer got accepted was stored, nothing was dead-lettered, no consumer is stuck', async () => {
    await t.drained();
    // Not vacuous: the fuzzer got events through. Since ingest authenticates, only a mutated example
    // sent with the right key for its route is accepted: about ten a run (6 and 10 in two rehearsals),
    // so the bar is "some", not "more than ten".
    expect(accepted.click.size + accepted.conversion.size).toBeGreaterThan(0);
    for (const [kind, table] of [
      ['click', 'clicks'],
      ['conversion', 'conversions'],
    ] as const) {
      const ids = [...accepted[kind]];
      const { rows } = await t.db.query(`SELECT id FROM ${table} WHERE id = ANY($1)`, [ids]);
      const stored = new Set(rows.map((r: { id: string }) => r.id));
      expect(ids.filter((id) => !stored.has(id))).toEqual([]);
    }
    const jsm = await jetstreamManager(t.nc);
    expect((await jsm.streams.info(t.topology.streams.dlq)).state.messages).toBe(0);
    expect((await call(t.api, 'GET', '/health')).status).toBe(200);
    expect((await call(t.gateway, 'GET', '/health')).status).toBe(200);
  });
});
