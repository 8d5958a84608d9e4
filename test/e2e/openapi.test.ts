import { existsSync } from 'node:fs';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { chromium } from 'playwright-core';
import { routesOf } from '@app/http';
import { TestEngine, bootEngine } from './support/engine';
import { call } from './support/tenants';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, unknown>[];
  requestBody?: { content: Record<string, { schema?: object; examples?: Record<string, { value: unknown }> }> };
  parameters?: unknown[];
  responses: Record<string, { description?: string; content?: Record<string, { schema?: { example?: unknown }; example?: unknown }> }>;
}

/** Issue 5: the OpenAPI document covers every endpoint with examples, and Swagger UI renders it. */
describe('OpenAPI document and Swagger UI (services booted)', () => {
  let t: TestEngine;
  let doc: { paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };
  let served: { base: string; method: string; url: string }[];

  beforeAll(async () => {
    t = await bootEngine();
    const res = await call(t.api, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
    served = [
      ...routesOf(t.engine.http.api).map((r) => ({ base: t.api, ...r })),
      ...routesOf(t.engine.http.gateway).map((r) => ({ base: t.gateway, ...r })),
    ].filter((r) => !r.url.startsWith('/docs') && r.url !== '/openapi.json');
  });
  afterAll(async () => {
    await t?.stop();
  });

  const operation = (method: string, url: string): Operation | undefined =>
    doc.paths[url.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()];

  it('documents every route the api and the gateway serve, and nothing else', () => {
    const missing = served.filter((r) => !operation(r.method, r.url)).map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((m) => METHODS.includes(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    const servedKeys = new Set(served.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`));
    expect(documented.filter((k) => !servedKeys.has(k))).toEqual([]);
  });

  it('gives every operation a summary, a tag, a success response with an example, and body examples', () => {
    const problems: string[] = [];
    for (const r of served) {
      const op = operation(r.method, r.url)!;
      const name = `${r.method} ${r.url}`;
      if (!op.summary) problems.push(`${name}: no summary`);
      if (!op.tags?.length) problems.push(`${name}: no tag`);
      const success = Object.entries(op.responses).filter(([code]) => /^[23]/.test(code));
      if (!success.length) problems.push(`${name}: no success response`);
      for (const [code, response] of success) {
        if (code === '204' || code === '302') continue;
        const examples = Object.values(response.content ?? {}).filter((c) => c.example !== undefined || c.schema?.example !== undefined);
        if (!examples.length) problems.push(`${name}: response ${code} has no example`);
      }
      if (op.requestBody) {
        const json = op.requestBody.content['application/json'];
        if (!json?.examples || !Object.keys(json.examples).length) problems.push(`${name}: request body without examples`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents the 400 of every operation that takes input, with the field errors and the text no field may hold', () => {
    const missing: string[] = [];
    for (const r of served) {
      const op = operation(r.method, r.url)!;
      if (!op.parameters?.length && !op.requestBody) continue;
      const bad = op.responses['400'];
      const examples = Object.values(bad?.content ?? {}).filter((c) => c.example !== undefined || c.schema?.example !== undefined);
      if (!bad?.description?.includes('unpaired surrogate') || !examples.length)
        missing.push(`${r.method} ${r.url}: ${JSON.stringify(bad)}`);
    }
    expect(missing).toEqual([]);
    expect(doc.paths['/v1/admin/advertisers'].post.responses['400']).toMatchObject({
      description: expect.stringContaining('NUL (U+0000)'),
      content: { 'application/json': { schema: { example: { error: 'validation_failed', errors: [{ field: 'name' }] } } } },
    });
  });

  it('validates every request-body example against the schema the route checks', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const failures: string[] = [];
    let checked = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const json = (op as Operation).requestBody?.content['application/json'];
        if (!json?.schema || !json.examples) continue;
        const validate = ajv.compile(json.schema);
        for (const [name, example] of Object.entries(json.examples)) {
          checked++;
          if (!validate(example.value)) failures.push(`${method} ${path} example ${name}: ${ajv.errorsText(validate.errors)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(15);
  });

  it('declares the API key on exactly the operations that refuse a request without one', async () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const wrong: string[] = [];
    for (const r of served) {
      if (r.url.startsWith('/c/') || r.url === '/postback') continue; // redirects and postbacks: public by design
      const body = r.method === 'GET' || r.method === 'DELETE' ? undefined : {};
      const res = await call(r.base, r.method, r.url.replace(/:(\w+)/g, 'x'), undefined, body);
      const needsKey = res.status === 401;
      const declares = !!operation(r.method, r.url)!.security?.some((s) => 'bearer' in s);
      if (needsKey !== declares) wrong.push(`${r.method} ${r.url}: answers ${res.status} without a key, declares a key: ${declares}`);
    }
    expect(wrong).toEqual([]);
  });

  it('renders Swagger UI in headless Chromium, listing every endpoint', async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${t.api}/docs`);
      await page.waitForSelector('.opblock', { timeout: 30_000 });
      expect(await page.title()).toBe('Arbiter API');
      const operations = Object.values(doc.paths).flatMap((item) => Object.keys(item).filter((m) => METHODS.includes(m)));
      const listed = await page.$$eval('.opblock', (blocks) =>
        blocks.map(
          (b) => `${b.querySelector('.opblock-summary-method')?.textContent} ${b.querySelector('.opblock-summary-path')?.textContent}`,
        ),
      );
      expect(listed).toHaveLength(operations.length);
      expect(listed).toEqual(expect.arrayContaining(['GET /v1/publisher/rejections', 'POST /v1/review/decisions', 'POST /v1/clicks']));

      // Opening an operation shows its example answer.
      await page.click('#operations-publisher-PublisherController_rejections .opblock-summary');
      await page.waitForSelector('#operations-publisher-PublisherController_rejections .responses-wrapper');
      const text = await page.textContent('#operations-publisher-PublisherController_rejections');
      expect(text).toContain('IP_VELOCITY');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
