import {
  ClickEvent,
  ClickInput,
  ConversionEvent,
  ConversionInput,
  EventKind,
  FeedbackEvent,
  FeedbackInput,
  FieldError,
  clickPartition,
  compiled,
  inputSchemas,
  mintClickId,
  mintEventId,
  partitionOfClickId,
} from '@app/contracts';
import { countryOfIp } from './geo';

/**
 * A device id that names nobody: the all-zero advertising id a phone reports when its user limited
 * ad tracking (iOS App Tracking Transparency, Android's opt-out; with or without dashes), a
 * publisher's macro left unexpanded (`{idfa}`, `{{device_id}}`, `${IDFA}`, `%%GAID%%`, `__IDFA__`,
 * `[idfa]`), a blank, or a word for "none". Thousands of unrelated people send the same one, so
 * kept as an id it would make them one device (DEVICE_VELOCITY, distinct devices per address).
 */
const PLACEHOLDER_DEVICE_ID =
  /^\s*(?:[0-]*|\{\{?[^{}]*\}\}?|\$\{[^{}]*\}|%%[^%]*%%|__[A-Za-z0-9_]+__|\[[^\[\]]*\]|null|nil|none|undefined|unknown|n\/a|-1)\s*$/i;

/** Whether `deviceId` is a placeholder rather than a device's id (see PLACEHOLDER_DEVICE_ID). */
export function isPlaceholderDeviceId(deviceId: string): boolean {
  return PLACEHOLDER_DEVICE_ID.test(deviceId);
}

export type NormalizeResult<T> = { ok: true; event: T } | { ok: false; errors: FieldError[] };

export interface NormalizerOptions {
  partitions: number;
  /** Event times further than this ahead of the receive time are refused. */
  maxFutureSkewMs: number;
  /** IP → country; injectable so tests and replays can pin it. */
  geo?: (ip: string) => string | null;
}

/**
 * Turns a partner's event into the stored form: validates it against its schema, mints the id
 * and time when absent, derives the partition and the IP's country. The gateway and every file
 * reader (replay, train, evaluate) go through this one path, so live and offline events match.
 *
 * The stored form is built with `Object.assign`, not `{ ...input, kind, … }`: on Node 20 every
 * property an object literal adds after a spread goes through V8's runtime (about 1.5 µs each:
 * 10 µs per click, the largest cost of the gateway's own code). Same keys, same order.
 */
export class EventNormalizer {
  private readonly geo: (ip: string) => string | null;
  private lastReceived = { ms: NaN, iso: '' };

  constructor(private readonly options: NormalizerOptions) {
    this.geo = options.geo ?? countryOfIp;
  }

  normalize(kind: 'click', raw: unknown, receivedAt: Date): NormalizeResult<ClickEvent>;
  normalize(kind: 'conversion', raw: unknown, receivedAt: Date): NormalizeResult<ConversionEvent>;
  normalize(kind: 'feedback', raw: unknown, receivedAt: Date, source?: FeedbackEvent['source']): NormalizeResult<FeedbackEvent>;
  normalize(
    kind: EventKind,
    raw: unknown,
    receivedAt: Date,
    source?: FeedbackEvent['source'],
  ): NormalizeResult<ClickEvent | ConversionEvent | FeedbackEvent>;
  normalize(
    kind: EventKind,
    raw: unknown,
    receivedAt: Date,
    source: FeedbackEvent['source'] = 'advertiser',
  ): NormalizeResult<ClickEvent | ConversionEvent | FeedbackEvent> {
    const checked = compiled(inputSchemas[kind]).check(raw);
    if (!checked.ok) return checked;
    const tsError = this.checkTime(checked.value as { ts?: string }, receivedAt);
    if (tsError) return { ok: false, errors: [tsError] };
    const received = this.iso(receivedAt);
    const partitions = this.options.partitions;
    switch (kind) {
      case 'click': {
        const input = checked.value as ClickInput;
        const partition = clickPartition(input.ip, partitions);
        const event: ClickEvent = Object.assign({}, input, {
          kind: 'click' as const,
          id: input.id ?? mintClickId(partition),
          ts: canonicalTime(input.ts, received),
          receivedAt: received,
          partition,
          ipCountry: this.geo(input.ip),
        });
        if (input.id === undefined) event.idMinted = true;
        // A sub-id sent empty (`&sub=`: a publisher's macro left blank) is a sub-id not sent: one
        // "no sub-id" in the reports and KPIs, not two.
        if (event.subId === '') delete event.subId;
        // A placeholder device id is a device id not sent (limited ad tracking, a blank macro).
        if (event.deviceId !== undefined && isPlaceholderDeviceId(event.deviceId)) delete event.deviceId;
        return { ok: true, event };
      }
      case 'conversion': {
        const input = checked.value as ConversionInput;
        const event: ConversionEvent = Object.assign({}, input, {
          kind: 'conversion' as const,
          id: input.id ?? mintEventId(),
          ts: canonicalTime(input.ts, received),
          receivedAt: received,
          partition: partitionOfClickId(input.clickId, partitions),
          ipCountry: input.ip ? this.geo(input.ip) : null,
        });
        if (event.deviceId !== undefined && isPlaceholderDeviceId(event.deviceId)) delete event.deviceId;
        return { ok: true, event };
      }
      case 'feedback': {
        const input = checked.value as FeedbackInput;
        const event: FeedbackEvent = Object.assign({}, input, {
          kind: 'feedback' as const,
          id: input.id ?? mintEventId(),
          ts: canonicalTime(input.ts, received),
          receivedAt: received,
          // Feedback follows its conversion's click partition only loosely; the scorer does not need it.
          partition: 0,
          source,
        });
        return { ok: true, event };
      }
    }
  }

  /** `toISOString`, remembered for the last instant: a batch of events shares one receive time (1 µs each). */
  private iso(at: Date): string {
    const ms = at.getTime();
    if (ms !== this.lastReceived.ms) this.lastReceived = { ms, iso: at.toISOString() };
    return this.lastReceived.iso;
  }

  private checkTime(input: { ts?: string }, receivedAt: Date): FieldError | null {
    if (input.ts === undefined) return null;
    // The schema's date-time format admits only instants a Date can hold (no leap second).
    const skew = Date.parse(input.ts) - receivedAt.getTime();
    if (skew > this.options.maxFutureSkewMs) {
      return {
        field: 'ts',
        message: `is ${Math.round(skew / 1000)} s in the future (at most ${this.options.maxFutureSkewMs / 1000} s allowed)`,
      };
    }
    return null;
  }
}

/** One spelling per instant (UTC, milliseconds), so ids and times compare as strings. */
function canonicalTime(ts: string | undefined, fallback: string): string {
  return ts === undefined ? fallback : new Date(ts).toISOString();
}
