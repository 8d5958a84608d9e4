import { inactiveOfferRule, unknownOfferRule, unknownPublisherRule } from './catalog.rules';
import { botUserAgentRule } from './click/bot-user-agent.rule';
import { duplicateClickRule } from './click/duplicate-click.rule';
import { geoMismatchClickRule } from './click/geo-mismatch-click.rule';
import { invalidIpRule } from './click/invalid-ip.rule';
import { ipVelocityRule } from './click/ip-velocity.rule';
import { nonBrowserClientRule } from './click/non-browser-client.rule';
import { ctitTooLongRule, ctitTooShortRule } from './conversion/ctit.rules';
import { duplicateConversionRule } from './conversion/duplicate-conversion.rule';
import { geoMismatchConversionRule } from './conversion/geo-mismatch-conversion.rule';
import { invalidSourceClickRule } from './conversion/invalid-source-click.rule';
import { unknownClickRule } from './conversion/unknown-click.rule';
import { ClickFacts, ClickRule, ConversionFacts, ConversionRule } from './rule';

/** Every click rule, in the order their reasons are listed. */
export const CLICK_RULES: readonly ClickRule<any>[] = [
  unknownOfferRule<ClickFacts>('click'),
  unknownPublisherRule<ClickFacts>('click'),
  inactiveOfferRule<ClickFacts>('click'),
  invalidIpRule,
  botUserAgentRule,
  nonBrowserClientRule,
  duplicateClickRule,
  ipVelocityRule,
  geoMismatchClickRule,
];

/** Every conversion rule, in the order their reasons are listed. */
export const CONVERSION_RULES: readonly ConversionRule<any>[] = [
  unknownClickRule,
  unknownOfferRule<ConversionFacts>('conversion'),
  unknownPublisherRule<ConversionFacts>('conversion'),
  inactiveOfferRule<ConversionFacts>('conversion'),
  duplicateConversionRule,
  invalidSourceClickRule,
  ctitTooShortRule,
  ctitTooLongRule,
  geoMismatchConversionRule,
];
