import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpReplayer } from './http-replayer';

/**
 * A gateway that decides a conversion only once a later batch of clicks has arrived, as an engine
 * behind a pipeline does: feedback for a conversion answers 404 until then.
 */
class PipelineGateway {
  readonly feedbackAttempts: string[] = [];
  readonly feedbackAccepted: string[] = [];
  private readonly received = new Set<string>();
  private readonly decided = new Set<string>();
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void this.body(req).then((body) => {
        const send = (code: number, value: unknown) =>
          res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (req.url === '/v1/clicks') {
          for (const id of this.received) this.decided.add(id);
          return send(202, { results: body.map(() => ({ status: 'accepted' })) });
        }
        if (req.url === '/v1/conversions') {
          for (const c of body) this.received.add(c.id);
          return send(202, { results: body.map(() => ({ status: 'accepted' })) });
        }
        if (req.url === '/v1/feedback') {
          const label = `${body.conversionId}:${body.status}`;
          this.feedbackAttempts.push(label);
          if (!this.decided.has(body.conversionId)) return send(404, { error: 'not_found' });
          this.feedbackAccepted.push(label);
          return send(202, { id: label, duplicate: false });
        }
        send(404, { error: 'not_found' });
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async body(req: IncomingMessage): Promise<any> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  }
}

describe('HttpReplayer', () => {
  const gateway = new PipelineGateway();
  let url: string;
  beforeAll(async () => {
    url = await gateway.start();
  });
  afterAll(() => gateway.stop());

  it('sends later slices while a feedback waits for its conversion, and keeps a conversion’s feedback in order', async () => {
    const ts = '2026-12-01T10:00:00.000Z';
    const lines = [
      { kind: 'click', id: 'c1', offerId: 'o1', publisherId: 'p1', ts },
      { kind: 'conversion', id: 'v1', clickId: 'c1', ts },
      { kind: 'feedback', conversionId: 'v1', status: 'rejected' },
      { kind: 'click', id: 'c2', offerId: 'o1', publisherId: 'p1', ts },
      { kind: 'conversion', id: 'v2', clickId: 'c2', ts },
      { kind: 'feedback', conversionId: 'v1', status: 'approved' },
      { kind: 'click', id: 'c3', offerId: 'o1', publisherId: 'p1', ts },
    ];
    const replayer = new HttpReplayer({ gateway: url, api: url, adminKey: 'admin' }, { batch: 3 });
    // Sending slice by slice and waiting for each feedback would wait for a click batch that is only
    // sent after the wait: the feedback would fail after a minute.
    const result = await replayer.send(lines);
    expect(result).toMatchObject({ sent: 7, accepted: 7, failed: 0, rejected: 0 });
    expect(gateway.feedbackAccepted).toEqual(['v1:rejected', 'v1:approved']);
    // The second feedback of v1 was not tried before the first was accepted.
    expect(gateway.feedbackAttempts.indexOf('v1:approved')).toBeGreaterThan(gateway.feedbackAttempts.lastIndexOf('v1:rejected'));
  }, 15_000);

  it('fails the replay when the gateway cannot be reached for a feedback', async () => {
    const replayer = new HttpReplayer({ gateway: 'http://127.0.0.1:1', api: url, adminKey: 'admin' }, { batch: 10 });
    await expect(replayer.send([{ kind: 'feedback', conversionId: 'v9', status: 'approved' }])).rejects.toThrow();
  });
});
