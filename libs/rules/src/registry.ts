/** The rule registry: every rule the engine runs, click and conversion, in the order their reasons are listed. */
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
import { offerMismatchRule, unverifiedSourceRule } from './conversion/source.rules';
import { datacenterIpRule } from './click/datacenter-ip.rule';
import { deviceVelocityRule } from './click/device-velocity.rule';
import { clickSpamPatternRule } from './conversion/click-spam-pattern.rule';
import { conversionVelocityRule } from './conversion/conversion-velocity.rule';
import { deviceMismatchRule } from './conversion/device-mismatch.rule';
import { publisherCrAnomalyRule } from './conversion/publisher-cr-anomaly.rule';
import { denyListedClickRule, denyListedConversionRule } from './deny-listed.rules';
import { enforcementBlockClickRule, enforcementBlockConversionRule } from './enforcement-block.rules';
import { ClickFacts, ClickRule, ConversionFacts, ConversionRule } from './rule';

/** Every click rule, in the order their reasons are listed. */
export const CLICK_RULES: readonly ClickRule<any>[] = [
  unknownOfferRule<ClickFacts>('click'),
  unknownPublisherRule<ClickFacts>('click'),
  inactiveOfferRule<ClickFacts>('click'),
  denyListedClickRule,
  enforcementBlockClickRule,
  invalidIpRule,
  botUserAgentRule,
  nonBrowserClientRule,
  datacenterIpRule,
  duplicateClickRule,
  ipVelocityRule,
  deviceVelocityRule,
  geoMismatchClickRule,
];

/** Every conversion rule, in the order their reasons are listed. */
export const CONVERSION_RULES: readonly ConversionRule<any>[] = [
  unknownClickRule,
  offerMismatchRule,
  unverifiedSourceRule,
  unknownOfferRule<ConversionFacts>('conversion'),
  unknownPublisherRule<ConversionFacts>('conversion'),
  inactiveOfferRule<ConversionFacts>('conversion'),
  denyListedConversionRule,
  enforcementBlockConversionRule,
  duplicateConversionRule,
  invalidSourceClickRule,
  ctitTooShortRule,
  ctitTooLongRule,
  conversionVelocityRule,
  clickSpamPatternRule,
  publisherCrAnomalyRule,
  geoMismatchConversionRule,
  deviceMismatchRule,
];
