import type { ClickEvent, ConversionEvent } from '@app/contracts';
import { EventNormalizer } from '@app/ingest';
import type { Simulator } from '@app/simulator';

/**
 * A simulator's clicks and conversions as the gateway stores them and the scorer receives them
 * (normalised at their own time, one partition), without the simulator's labels; events the gateway
 * would refuse and feedback are left out.
 */
export function* storedEvents(sim: Simulator): Generator<ClickEvent | ConversionEvent> {
  const normalizer = new EventNormalizer({ partitions: 1, maxFutureSkewMs: 0 });
  for (const e of sim.events()) {
    if (e.kind === 'feedback') continue;
    const { kind, label: _label, pattern: _pattern, ...raw } = e as typeof e & { label?: unknown; pattern?: unknown };
    const n = normalizer.normalize(kind, raw, new Date(e.ts));
    if (n.ok && (n.event.kind === 'click' || n.event.kind === 'conversion')) yield n.event;
  }
}
