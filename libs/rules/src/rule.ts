import { TObject, Type } from '@sinclair/typebox';
import type { ClickEvent, ConversionEvent, Evidence, Offer, Publisher, ReasonCode } from '@app/contracts';
import type { ClickObservation, ConversionObservation } from '@app/features';
import type { CompiledLists } from './lists';

/** `enforce` changes the outcome; `monitor` records the reason only; `off` skips the rule. */
export type Mode = 'enforce' | 'monitor' | 'off';

/** What a click rule sees: the event, its streaming features and its catalog entries. */
export interface ClickFacts {
  event: ClickEvent;
  obs: ClickObservation;
  offer: Offer | null;
  publisher: Publisher | null;
  lists: CompiledLists;
}

/** What a conversion rule sees. `offer` is the conversion's, or its click's when it names none. */
export interface ConversionFacts {
  event: ConversionEvent;
  obs: ConversionObservation;
  offer: Offer | null;
  publisher: Publisher | null;
  advertiserId: string | null;
  /** Conversion type, `sale` when the event does not say. */
  type: string;
  lists: CompiledLists;
}

/**
 * A detector for one reason code. `evaluate` is pure: it returns the evidence (the numbers that
 * made it fire) or null. Its parameters have a schema and defaults, so rule sets are validated.
 */
export interface Rule<F, P extends object = object> {
  code: ReasonCode;
  on: 'click' | 'conversion';
  params: TObject;
  defaults: P;
  evaluate(facts: F, params: P): Evidence | null;
}

export type ClickRule<P extends object = object> = Rule<ClickFacts, P>;
export type ConversionRule<P extends object = object> = Rule<ConversionFacts, P>;

export const NoParams = Type.Object({}, { additionalProperties: false });
