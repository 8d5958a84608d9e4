import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsMsg } from '@nats-io/jetstream';
import { WEBHOOK_DELIVERY_SLOTS, loadConfig } from '@app/config';
import { Topology, type Decision } from '@app/contracts';
import { Delivery } from '@app/messaging';
import type { EndpointRef, PostbackRepository, WebhookAttempt, WebhookEndpoint, WebhookRepository } from '@app/storage';
import { uid } from '@app/testing';
import { PRIOR_ATTEMPTS_HEADER, REPLAYS_HEADER, verifyWebhook } from '@app/webhooks';
import { DeliveryTargetService } from './delivery-target.service';
import { WebhookDeliveryConsumer } from './webhook-delivery.consumer';

const MAX_ATTEMPTS = 3;
const CAP = 2;
/** A partner over its cap may take slots while fewer than this are in flight (half of them stay free). */
const SHARED = WEBHOOK_DELIVERY_SLOTS / 2;
const topology = new Topology('unit');

/**
 * One webhook attempt per message (WebhookDeliveryConsumer): what is sent, what is recorded and
 * how the message is settled, against a real HTTP receiver and an in-memory attempt log.
 */
describe('WebhookDeliveryConsumer: one delivery attempt', () => {
  let receiver: Server;
  let url: string;
  let answer: number;
  /** While set, the receiver holds every request until it is resolved (a slow endpoint). */
  let hold: Promise<void> | null;
  let inReceiver: number;
  let received: { method: string; target: string; headers: IncomingHttpHeaders; body: string }[];
  let endpoint: WebhookEndpoint | null;
  let recorded: WebhookAttempt[];
  let parksOnRecord: boolean;
  let alreadyDelivered: Set<string>;
  /** Deliveries another copy (or notifier) is sending now: their claim is held elsewhere. */
  let heldElsewhere: Set<string>;
  let deliveredByTheHolder: Set<string>;
  let claims: Map<string, string>;
  let releasedWithRecord: (string | undefined)[];
  let releasedAlone: string[];
  let claimsEnded: number;
  let sut: WebhookDeliveryConsumer;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', target: req.url ?? '', headers: req.headers, body });
        inReceiver++;
        void (hold ?? Promise.resolve()).then(() => {
          inReceiver--;
          res.writeHead(answer).end();
        });
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await new Promise((r) => receiver.close(r));
  });

  beforeEach(() => {
    answer = 200;
    hold = null;
    inReceiver = 0;
    received = [];
    recorded = [];
    parksOnRecord = false;
    alreadyDelivered = new Set();
    heldElsewhere = new Set();
    deliveredByTheHolder = new Set();
    claims = new Map();
    releasedWithRecord = [];
    releasedAlone = [];
    claimsEnded = 0;
    endpoint = {
      owner: 'advertiser',
      id: 'adv-1',
      ownerId: 'adv-1',
      url,
      secret: 'whsec-unit-0123456789',
      previousSecret: null,
      status: 'active',
      consecutiveFailures: 0,
      failedDeliveries: 0,
      parkedAt: null,
    };
    const webhooks = {
      progress: async (id: string, _owner: string, replay: number) => ({
        delivered: alreadyDelivered.has(id),
        requests: recorded.filter((a) => a.deliveryId === id && a.outcome !== 'parked' && (a.replay ?? 0) === replay).length,
        lastAttempt: Math.max(0, ...recorded.filter((a) => a.deliveryId === id).map((a) => a.attempt)),
      }),
      claimsVacuum: () => ({ deleted: async (rows: number) => void (claimsEnded += rows) }),
      claim: async (id: string, _owner: string, holder: string) => {
        if (heldElsewhere.has(id)) return false;
        // The copy that held it recorded it delivered as this one's claim waited for it.
        if (deliveredByTheHolder.has(id)) alreadyDelivered.add(id);
        claims.set(id, holder);
        return true;
      },
      release: async (id: string, _owner: string, holder: string) => {
        if (claims.get(id) === holder) releasedAlone.push(id);
      },
      endpoint: async (ref: EndpointRef) => (endpoint?.owner === ref.owner && endpoint.id === ref.id ? endpoint : null),
      record: async (a: WebhookAttempt, _parkAfter: number, holder?: string) => {
        if (holder !== undefined && claims.get(a.deliveryId) === holder) releasedWithRecord.push(a.deliveryId);
        recorded.push(a);
        return a.outcome === 'parked' || parksOnRecord;
      },
    };
    // A publisher's postback `pb-1` covers every offer; the click had sub1.
    const postbacks = {
      effective: async (publisherId: string) => (publisherId === 'pub-1' ? { id: 'pb-1' } : null),
      clickSubIds: async () => ({ sub1: 'kw one' }),
    };
    sut = new WebhookDeliveryConsumer(
      webhooks as unknown as WebhookRepository,
      new DeliveryTargetService(webhooks as unknown as WebhookRepository, postbacks as unknown as PostbackRepository, topology),
      topology,
      loadConfig(
        {},
        {
          WEBHOOK_MAX_ATTEMPTS: MAX_ATTEMPTS,
          WEBHOOK_ALLOW_PRIVATE_NETWORKS: true,
          WEBHOOK_TIMEOUT_MS: 5_000,
          WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER: CAP,
        },
      ),
    );
  });
  afterEach(async () => {
    await sut.onApplicationShutdown();
  });

  function aDecision(): Decision {
    return {
      conversionId: uid('cnv'),
      clickId: uid('clk'),
      advertiserId: 'adv-1',
      offerId: 'offer-1',
      publisherId: 'pub-1',
      status: 'approved',
      revision: 0,
      reasons: [],
      decidedAt: new Date().toISOString(),
    } as unknown as Decision;
  }

  function delivery(
    decision: Decision,
    deliveryCount = 1,
    priorAttempts?: number,
    subject = topology.webhooks('adv-1'),
    /** The replay round; a copy with prior attempts comes from a replay, the first unless told. */
    replays = priorAttempts === undefined ? 0 : 1,
  ): Delivery<Decision> {
    const headers: Record<string, string> = {};
    if (priorAttempts !== undefined) headers[PRIOR_ATTEMPTS_HEADER] = String(priorAttempts);
    if (replays) headers[REPLAYS_HEADER] = String(replays);
    const msg = {
      subject,
      info: { stream: 'DECISIONS', streamSequence: 1, deliveryCount },
      headers: { get: (name: string) => headers[name] ?? '' },
    };
    return new Delivery(decision, msg as unknown as JsMsg);
  }

  it('posts the signed decision and records it delivered; the message is acked', async () => {
    const decision = aDecision();
    const d = delivery(decision);
    await sut.deliver([d]);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0].body)).toMatchObject({ conversionId: decision.conversionId });
    expect(verifyWebhook(endpoint!.secret!, received[0].headers['arbiter-signature'] as string, received[0].body)).toBe(true);
    expect(received[0].headers['arbiter-idempotency-key']).toBe(`${decision.conversionId}:0`);
    expect(recorded).toEqual([
      expect.objectContaining({ deliveryId: `${decision.conversionId}:0`, attempt: 1, outcome: 'delivered', statusCode: 200 }),
    ]);
    expect(d.outcome).toEqual({ kind: 'ack' });
  });

  it("fires a publisher's postback as a signed GET, macros substituted, recorded as the publisher's", async () => {
    endpoint = { ...endpoint!, owner: 'publisher', id: 'pb-1', ownerId: 'pub-1', url: `${url}?cid={click_id}&s1={sub1}&st={status}` };
    const decision = aDecision();
    const d = delivery(decision, 1, undefined, topology.postbacks('pub-1'));
    await sut.deliver([d]);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'GET', body: '', target: `/hook?cid=${decision.clickId}&s1=kw%20one&st=approved` });
    expect(verifyWebhook(endpoint.secret!, received[0].headers['arbiter-signature'] as string, received[0].target)).toBe(true);
    expect(received[0].headers['arbiter-idempotency-key']).toBe(`${decision.conversionId}:0`);
    expect(recorded).toEqual([
      expect.objectContaining({ owner: 'publisher', publisherId: 'pub-1', postbackId: 'pb-1', advertiserId: null, outcome: 'delivered' }),
    ]);
    expect(d.outcome).toEqual({ kind: 'ack' });
  });

  it('sends nothing for a delivery the receiver already took (redelivered after a crash before the ack)', async () => {
    const decision = aDecision();
    alreadyDelivered.add(`${decision.conversionId}:0`);
    const d = delivery(decision, 2);
    await sut.deliver([d]);
    expect(received).toEqual([]);
    expect(recorded).toEqual([]);
    expect(d.outcome).toEqual({ kind: 'ack' });
  });

  it('neither sends, records nor dead-letters a delivery another copy is sending: it asks for it again later', async () => {
    const decision = aDecision();
    heldElsewhere.add(`${decision.conversionId}:0`);
    const d = delivery(decision, MAX_ATTEMPTS);
    await sut.deliver([d]);
    expect(received).toEqual([]);
    expect(recorded).toEqual([]);
    // Even at its last attempt: it has not been tried, and the copy sending it may fail.
    expect(d.outcome).toEqual({ kind: 'retry', delayMs: expect.any(Number) });
  });

  it('asks whether the delivery was delivered once it holds the claim, not before: the previous holder may just have delivered it', async () => {
    const decision = aDecision();
    deliveredByTheHolder.add(`${decision.conversionId}:0`);
    const d = delivery(decision);
    await sut.deliver([d]);
    expect(received).toEqual([]);
    expect(recorded).toEqual([]);
    expect(d.outcome).toEqual({ kind: 'ack' });
  });

  it('releases the claim with the attempt it records, or alone when it ends with nothing to record', async () => {
    const sent = aDecision();
    await sut.deliver([delivery(sent)]);
    expect(releasedWithRecord).toEqual([`${sent.conversionId}:0`]);
    expect(releasedAlone).toEqual([]);

    const taken = aDecision();
    alreadyDelivered.add(`${taken.conversionId}:0`);
    await sut.deliver([delivery(taken, 2)]);
    expect(releasedAlone).toEqual([`${taken.conversionId}:0`]);

    answer = 503;
    const failed = aDecision();
    await sut.deliver([delivery(failed)]);
    expect(releasedWithRecord).toEqual([`${sent.conversionId}:0`, `${failed.conversionId}:0`]);
    expect(releasedAlone).toHaveLength(1);
  });

  it('a copy that waited on the claim spends none of the retry budget nor lengthens its wait: requests count, not deliveries', async () => {
    const decision = aDecision();
    const id = `${decision.conversionId}:0`;
    heldElsewhere.add(id);
    const waits: number[] = [];
    for (let count = 1; count <= MAX_ATTEMPTS + 3; count++) {
      const d = delivery(decision, count);
      await sut.deliver([d]);
      expect(d.outcome.kind).toBe('retry');
      waits.push((d.outcome as { delayMs: number }).delayMs);
    }
    // Each wait is 2 s at most (jittered ±20 %), however many came before it.
    for (const w of waits) expect(w).toBeLessThanOrEqual(2_400);
    // The holder released the claim; this copy's first request fails, at a delivery count past the budget.
    heldElsewhere.delete(id);
    answer = 503;
    const first = delivery(decision, MAX_ATTEMPTS + 4);
    await sut.deliver([first]);
    expect(received).toHaveLength(1);
    expect(recorded).toEqual([expect.objectContaining({ attempt: 1, outcome: 'retry' })]);
    expect(first.outcome.kind).toBe('retry');
    expect((first.outcome as { delayMs: number }).delayMs).toBeLessThanOrEqual(2_400);
    // Dead-lettered at its MAX_ATTEMPTS-th request, not before.
    for (let n = 2; n <= MAX_ATTEMPTS; n++) {
      const d = delivery(decision, MAX_ATTEMPTS + 3 + n);
      await sut.deliver([d]);
      expect(d.outcome.kind).toBe(n < MAX_ATTEMPTS ? 'retry' : 'reject');
    }
    expect(received).toHaveLength(MAX_ATTEMPTS);
    expect(recorded.map((a) => [a.attempt, a.outcome])).toEqual([
      ...Array.from({ length: MAX_ATTEMPTS - 1 }, (_, i) => [i + 1, 'retry']),
      [MAX_ATTEMPTS, 'dead_letter'],
    ]);
  });

  it('sends nothing for a copy whose delivery another copy already dead-lettered: it joins it in the dead letters, unrecorded', async () => {
    const decision = aDecision();
    answer = 500;
    for (let n = 1; n <= MAX_ATTEMPTS; n++) await sut.deliver([delivery(decision, n)]);
    expect(recorded.at(-1)?.outcome).toBe('dead_letter');
    const other = delivery(decision, 1);
    await sut.deliver([other]);
    expect(received).toHaveLength(MAX_ATTEMPTS);
    expect(recorded).toHaveLength(MAX_ATTEMPTS);
    expect(other.outcome.kind).toBe('reject');
    expect(releasedAlone).toEqual([`${decision.conversionId}:0`]);
  });

  it('REVIEW2: a replayed copy that had joined the dead letters unsent gets a fresh budget, not one request', async () => {
    const decision = aDecision();
    answer = 500;
    // Copy A spends the budget alone and is dead-lettered (deliveries 8: replayed with prior 8).
    for (let n = 1; n <= MAX_ATTEMPTS; n++) await sut.deliver([delivery(decision, n)]);
    // Copy B (queued again / a second parked copy) finds the budget spent at its first delivery:
    // rejected unsent, so its dead letter says deliveries 1 and its replay carries prior 1.
    const b = delivery(decision, 1);
    await sut.deliver([b]);
    expect(b.outcome.kind).toBe('reject');
    // Both replayed (the endpoint still failing); B's replay is handled first.
    const bReplayed = delivery(decision, 1, 1);
    await sut.deliver([bReplayed]);
    expect(received).toHaveLength(MAX_ATTEMPTS + 1);
    // A replay starts a new budget: this first request of the replay must be a retry, not the last.
    expect(recorded.at(-1)?.outcome).toBe('retry');
    expect(bReplayed.outcome.kind).toBe('retry');
  });

  it('REVIEW2: two copies interleaving requests, both replayed: the replay gets a full budget', async () => {
    const decision = aDecision();
    answer = 500;
    // A and B alternate (each retry releases the claim, so the other copy takes the next request).
    let a = 0;
    let b = 0;
    for (let n = 1; n <= MAX_ATTEMPTS; n++) await sut.deliver([n % 2 ? delivery(decision, ++a) : delivery(decision, ++b)]);
    const late = delivery(decision, ++a);
    await sut.deliver([late]); // A finds the budget spent: rejected unsent
    expect(late.outcome.kind).toBe('reject');
    // Replays carry prior = each copy's deliveries: A ${a}, B ${b}.
    const before = received.length;
    let outcome = 'retry';
    for (let n = 1; outcome === 'retry' && n <= MAX_ATTEMPTS; n++) {
      const d = delivery(decision, n, b); // B's replay is taken first
      await sut.deliver([d]);
      outcome = d.outcome.kind;
    }
    expect(received.length - before).toBe(MAX_ATTEMPTS);
  });

  it('a copy left in the dead letters while the other was replayed alone is sent again by its next replay, not rejected unsent on every one', async () => {
    const decision = aDecision();
    answer = 500;
    // Round 0: A spends the budget (attempts 1..3); B joins it in the dead letters unsent.
    for (let n = 1; n <= MAX_ATTEMPTS; n++) await sut.deliver([delivery(decision, n)]);
    await sut.deliver([delivery(decision, 1)]);
    // Round 1: A alone is replayed (prior 3, replays 1) and spends it again (attempts 4..6).
    for (let n = 1; n <= MAX_ATTEMPTS; n++) await sut.deliver([delivery(decision, n, MAX_ATTEMPTS, undefined, 1)]);
    expect(received).toHaveLength(2 * MAX_ATTEMPTS);
    // B's first replay (prior 1, replays 1) is of the round A just spent: it joins A's dead letter unsent.
    const bFirst = delivery(decision, 1, 1, undefined, 1);
    await sut.deliver([bFirst]);
    expect(bFirst.outcome.kind).toBe('reject');
    expect(received).toHaveLength(2 * MAX_ATTEMPTS);
    // Its next replay (prior 2, replays 2) is a round of its own: a full budget, numbered after attempt 6.
    let outcome = 'retry';
    for (let n = 1; outcome === 'retry' && n <= MAX_ATTEMPTS; n++) {
      const d = delivery(decision, n, 2, undefined, 2);
      await sut.deliver([d]);
      outcome = d.outcome.kind;
    }
    expect(received).toHaveLength(3 * MAX_ATTEMPTS);
    expect(recorded.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(recorded.filter((a) => a.outcome === 'dead_letter')).toHaveLength(3);
  });

  it('counts every claim it ended towards vacuuming webhook_claims, not the waits', async () => {
    const decision = aDecision();
    await sut.deliver([delivery(decision)]); // delivered: released with the record
    await sut.deliver([delivery(decision, 2)]); // already delivered: released alone
    const waiting = aDecision();
    heldElsewhere.add(`${waiting.conversionId}:0`);
    await sut.deliver([delivery(waiting)]); // took no claim
    expect(claimsEnded).toBe(2);
  });

  it('drops the delivery when the advertiser removed its webhook since', async () => {
    endpoint = { ...endpoint!, url: null, secret: null };
    const d = delivery(aDecision());
    await sut.deliver([d]);
    expect(received).toEqual([]);
    expect(recorded).toEqual([]);
    expect(d.outcome).toEqual({ kind: 'ack' });
  });

  it('asks for the message again later after a failed attempt that is not the last', async () => {
    answer = 503;
    const d = delivery(aDecision(), 1);
    await sut.deliver([d]);
    expect(received).toHaveLength(1);
    expect(recorded).toEqual([expect.objectContaining({ attempt: 1, outcome: 'retry', statusCode: 503 })]);
    expect(d.outcome).toEqual({ kind: 'retry', delayMs: expect.any(Number) });
  });

  it('dead-letters after the last attempt, numbering attempts across replays', async () => {
    answer = 500;
    const decision = aDecision();
    // Replayed after 8 attempts: a new budget, the numbers go on from 9.
    for (let n = 1; n < MAX_ATTEMPTS; n++) await sut.deliver([delivery(decision, n, 8)]);
    const d = delivery(decision, MAX_ATTEMPTS, 8);
    await sut.deliver([d]);
    expect(recorded.at(-1)).toEqual(expect.objectContaining({ attempt: 8 + MAX_ATTEMPTS, outcome: 'dead_letter', statusCode: 500 }));
    expect(recorded.map((a) => a.attempt)).toEqual(Array.from({ length: MAX_ATTEMPTS }, (_, i) => 9 + i));
    expect(d.outcome.kind).toBe('reject');
  });

  it('does not post to a parked endpoint: the attempt is recorded parked and the message dead-lettered', async () => {
    endpoint = { ...endpoint!, status: 'parked' };
    const d = delivery(aDecision());
    await sut.deliver([d]);
    expect(received).toEqual([]);
    expect(recorded).toEqual([expect.objectContaining({ outcome: 'parked', error: 'endpoint parked' })]);
    expect(d.outcome.kind).toBe('reject');
  });

  it('dead-letters a failed attempt when another delivery parked the endpoint meanwhile', async () => {
    answer = 500;
    parksOnRecord = true;
    const d = delivery(aDecision(), 1);
    await sut.deliver([d]);
    expect(recorded.map((a) => a.outcome)).toEqual(['retry', 'parked']);
    expect(d.outcome.kind).toBe('reject');
  });

  describe('per partner, at most WEBHOOK_MAX_IN_FLIGHT_PER_PARTNER in flight', () => {
    const failedAttempt = (deliveryId: string, attempt: number) =>
      ({ deliveryId, attempt, owner: 'advertiser', outcome: 'retry', statusCode: 503 }) as WebhookAttempt;
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(what()).toBe(true);
    };
    /**
     * Deliveries of adv-1 held by its slow endpoint, occupying every slot the partner may take: its cap,
     * then idle slots up to half of them (`n` fewer: only its cap).
     */
    const occupy = async (n = SHARED) => {
      let answerAll!: () => void;
      hold = new Promise((r) => (answerAll = r));
      const inFlight = Array.from({ length: n }, () => delivery(aDecision(), 1, undefined, topology.webhooks('adv-1')));
      const all = Promise.all(inFlight.map((d) => sut.deliver([d])));
      await until(() => inReceiver === n);
      return {
        inFlight,
        release: async () => {
          answerAll();
          hold = null;
          await all;
        },
      };
    };

    it('hands one more back to JetStream with a short delay: neither sent, claimed, recorded nor dead-lettered, even at its last attempt', async () => {
      const slow = await occupy();
      const over = aDecision();
      const id = `${over.conversionId}:0`;
      // Its requests so far: one more failure would dead-letter it.
      for (let n = 1; n < MAX_ATTEMPTS; n++) recorded.push(failedAttempt(id, n));
      const d = delivery(over, MAX_ATTEMPTS, undefined, topology.webhooks('adv-1'));
      await sut.deliver([d]);
      expect(d.outcome).toEqual({ kind: 'retry', delayMs: expect.any(Number) });
      expect((d.outcome as { delayMs: number }).delayMs).toBeLessThanOrEqual(2_400);
      expect(received.filter((r) => JSON.parse(r.body).conversionId === over.conversionId)).toEqual([]);
      expect(claims.has(id)).toBe(false);
      await slow.release();
      expect(recorded.filter((a) => a.deliveryId === id)).toHaveLength(MAX_ATTEMPTS - 1);
      expect(recorded).toHaveLength(SHARED + MAX_ATTEMPTS - 1);
      // A first wait is half a second.
      const early = await occupy();
      const first = delivery(aDecision(), 1, undefined, topology.webhooks('adv-1'));
      await sut.deliver([first]);
      expect((first.outcome as { delayMs: number }).delayMs).toBeLessThanOrEqual(600);
      await early.release();
    });

    it('lets a lone partner over its cap use idle slots, up to half of them (work-conserving)', async () => {
      const atCap = await occupy(CAP);
      const d = delivery(aDecision(), 1, undefined, topology.webhooks('adv-1'));
      const sent = sut.deliver([d]);
      await until(() => inReceiver === CAP + 1);
      await atCap.release();
      await sent;
      expect(d.outcome).toEqual({ kind: 'ack' });
    });

    it('keeps half the slots for the others: a partner at its cap waits once other partners fill the rest of that half', async () => {
      // adv-1 holds its cap; another partner's deliveries (each below its own cap) fill slots up to half.
      const atCap = await occupy(CAP);
      let answerOthers!: () => void;
      hold = new Promise((r) => (answerOthers = r));
      const publisher = { ...endpoint!, owner: 'publisher' as const, id: 'pb-1', ownerId: 'pub-1', url: `${url}?cid={click_id}` };
      const advertiser = endpoint!;
      endpoint = publisher;
      const others = Array.from({ length: SHARED - CAP }, () => delivery(aDecision(), 1, undefined, topology.postbacks(`pub-1`)));
      // pub-1 goes over its own cap too, into the idle slots, until half are taken.
      const othersDone = Promise.all(others.map((d) => sut.deliver([d])));
      await until(() => inReceiver === SHARED);
      endpoint = advertiser;
      const waiting = aDecision();
      const d = delivery(waiting, 1, undefined, topology.webhooks('adv-1'));
      await sut.deliver([d]);
      // Handed back at once, not sent and failed.
      expect(d.outcome).toEqual({ kind: 'retry', delayMs: expect.any(Number) });
      expect(recorded.filter((a) => a.deliveryId === `${waiting.conversionId}:0`)).toEqual([]);
      answerOthers();
      await atCap.release();
      endpoint = publisher;
      await othersDone;
      endpoint = advertiser;
    });

    it("sends another partner's delivery while one partner's slots are all held", async () => {
      // One fewer than it may take: the HTTP client opens 8 connections per receiver, and this one serves both.
      const slow = await occupy(SHARED - 1);
      endpoint = { ...endpoint!, owner: 'publisher', id: 'pb-1', ownerId: 'pub-1', url: `${url}?cid={click_id}` };
      hold = null; // the publisher's endpoint answers at once
      const d = delivery(aDecision(), 1, undefined, topology.postbacks('pub-1'));
      await sut.deliver([d]);
      expect(d.outcome).toEqual({ kind: 'ack' });
      expect(recorded).toEqual([expect.objectContaining({ owner: 'publisher', outcome: 'delivered' })]);
      endpoint = { ...endpoint, owner: 'advertiser', id: 'adv-1', ownerId: 'adv-1', url };
      await slow.release();
    });

    it('does not count the waits in the retry budget or the attempt numbers', async () => {
      const slow = await occupy();
      const waiting = aDecision();
      // Handed back MAX_ATTEMPTS + 1 times: JetStream's count runs past the budget.
      for (let n = 1; n <= MAX_ATTEMPTS + 1; n++) {
        const d = delivery(waiting, n, undefined, topology.webhooks('adv-1'));
        await sut.deliver([d]);
        expect(d.outcome.kind).toBe('retry');
      }
      await slow.release();
      answer = 503;
      const first = delivery(waiting, MAX_ATTEMPTS + 2, undefined, topology.webhooks('adv-1'));
      await sut.deliver([first]);
      expect(recorded.at(-1)).toEqual(expect.objectContaining({ deliveryId: `${waiting.conversionId}:0`, attempt: 1, outcome: 'retry' }));
      expect(first.outcome.kind).toBe('retry');
      expect(received.at(-1)!.headers['arbiter-delivery-attempt']).toBe('1');
      // Its next delivery is its second attempt, not its (MAX_ATTEMPTS + 3)-th.
      const second = delivery(waiting, MAX_ATTEMPTS + 3, undefined, topology.webhooks('adv-1'));
      await sut.deliver([second]);
      expect(recorded.at(-1)).toEqual(expect.objectContaining({ attempt: 2, outcome: 'retry' }));
    });

    it('frees the slot on every path: delivered, already delivered, no webhook, failed, dead-lettered, budget spent elsewhere, parked, claimed elsewhere, an error', async () => {
      const path = async (setUp: (id: string) => void, count = 1) => {
        for (let i = 0; i < CAP; i++) {
          const decision = aDecision();
          setUp(`${decision.conversionId}:0`);
          await sut.deliver([delivery(decision, count, undefined, topology.webhooks('adv-1'))]).catch(() => undefined);
        }
      };
      const base = { ...endpoint! };
      await path(() => undefined);
      await path((id) => alreadyDelivered.add(id), 2);
      endpoint = { ...base, url: null, secret: null };
      await path(() => undefined);
      endpoint = base;
      answer = 503;
      await path(() => undefined);
      const spent = (requests: number) => (id: string) => {
        for (let n = 1; n <= requests; n++) recorded.push(failedAttempt(id, n));
      };
      await path(spent(MAX_ATTEMPTS - 1), MAX_ATTEMPTS);
      expect(recorded.at(-1)).toEqual(expect.objectContaining({ outcome: 'dead_letter' }));
      await path(spent(MAX_ATTEMPTS), MAX_ATTEMPTS);
      answer = 200;
      endpoint = { ...base, status: 'parked' };
      await path(() => undefined);
      endpoint = base;
      await path((id) => heldElsewhere.add(id));
      const record = sut['webhooks'].record;
      sut['webhooks'].record = async () => {
        throw new Error('database gone');
      };
      await path(() => undefined);
      sut['webhooks'].record = record;
      // Every slot is free: SHARED deliveries at once all reach the endpoint.
      const slow = await occupy();
      await slow.release();
      expect(slow.inFlight.map((d) => d.outcome)).toEqual(Array(SHARED).fill({ kind: 'ack' }));
    });
  });
});
