import { Inject, Injectable } from '@nestjs/common';
import { ARBITER_CONFIG, ArbiterConfig } from '@app/config';
import { CatalogCache } from '@app/catalog';
import { ClickEvent, ConversionEvent, Outcome, Topology } from '@app/contracts';
import { ScoringEngine } from '@app/decisions';
import { ClickRecord } from '@app/features';
import { Delivery, JetStreamPublisher, StoredEvent } from '@app/messaging';
import { metrics } from '@app/observability';
import { DEFAULT_RULESET } from '@app/rules';
import { OutcomeRepository, StoredClick } from '@app/storage';

/**
 * The scorer's I/O around the pure scoring core: resolves catalog entries and clicks that are not
 * in memory, scores a batch in stream order, and publishes every verdict and decision to VERDICTS.
 * The batch is acked by the transport only after every publish was acknowledged by JetStream.
 */
@Injectable()
export class ScoringService {
  readonly engine: ScoringEngine;

  constructor(
    @Inject(ARBITER_CONFIG) config: ArbiterConfig,
    private readonly catalog: CatalogCache,
    private readonly outcomes: OutcomeRepository,
    private readonly publisher: JetStreamPublisher,
    private readonly topology: Topology,
  ) {
    this.engine = new ScoringEngine(DEFAULT_RULESET, { features: { maxClicks: config.SCORER_MAX_CLICKS } });
  }

  async process(batch: readonly Delivery<StoredEvent>[]): Promise<void> {
    const events = batch.map((d) => d.data);
    const stored = await this.prepare(events);
    const outcomes: Outcome[] = [];
    for (const e of events) {
      if (e.kind === 'click') outcomes.push(this.engine.scoreClick(e, this.catalog, Date.now()));
      else if (e.kind === 'conversion')
        outcomes.push(this.engine.scoreConversion(e, this.catalog, toRecord(stored.get(e.clickId)), Date.now()));
      // Feedback is stored by the recorder; it changes no windowed state.
    }
    await this.publisher.publishAll(
      outcomes.map((o) =>
        o.kind === 'click'
          ? { subject: this.topology.verdict('click'), payload: o, msgId: `verdict:${o.clickId}` }
          : { subject: this.topology.verdict('conversion'), payload: o, msgId: `decision:${o.conversionId}` },
      ),
    );
    for (const o of outcomes) {
      metrics.decisionLatency.labels(o.kind).observe(o.latencyMs / 1000);
      metrics.outcomes.labels(o.kind, o.kind === 'click' ? (o.valid ? 'valid' : 'invalid') : o.status).inc();
    }
  }

  /** Feeds an event from the past through the engine to rebuild windows; the outcome is dropped. */
  replay(e: StoredEvent): void {
    const at = Date.parse(e.receivedAt);
    if (e.kind === 'click') this.engine.scoreClick(e, this.catalog, at);
    else if (e.kind === 'conversion') this.engine.scoreConversion(e, this.catalog, null, at);
  }

  /** Loads what the batch needs from the database: unknown catalog ids and clicks no longer in memory. */
  private async prepare(events: readonly StoredEvent[]): Promise<Map<string, StoredClick>> {
    const clicksHere = new Set(events.filter((e): e is ClickEvent => e.kind === 'click').map((e) => e.id));
    const conversions = events.filter((e): e is ConversionEvent => e.kind === 'conversion');
    const missing = conversions.map((c) => c.clickId).filter((id) => !clicksHere.has(id) && !this.engine.holdsClick(id));
    const stored = await this.outcomes.findClicks([...new Set(missing)]);
    const offers: string[] = [];
    const publishers: string[] = [];
    for (const e of events) {
      if (e.kind === 'click') {
        offers.push(e.offerId);
        publishers.push(e.publisherId);
      } else if (e.kind === 'conversion' && e.offerId) offers.push(e.offerId);
    }
    for (const c of stored.values()) {
      offers.push(c.offerId);
      publishers.push(c.publisherId);
    }
    await this.catalog.resolve({ offers, publishers });
    return stored;
  }
}

function toRecord(c: StoredClick | undefined): ClickRecord | null {
  if (!c) return null;
  return {
    id: c.id,
    t: Date.parse(c.ts),
    offerId: c.offerId,
    publisherId: c.publisherId,
    subId: c.subId,
    ip: c.ip,
    userAgent: c.userAgent,
    deviceId: c.deviceId,
    country: c.ipCountry ?? c.country,
    // A click whose verdict is not recorded yet is treated as valid; its own rules still ran.
    valid: c.valid ?? true,
    reasonCodes: c.reasonCodes,
    conversions: c.conversions,
  };
}
