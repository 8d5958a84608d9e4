import { offerFromInput } from '@app/contracts';
import type { Advertiser, AdvertiserInput, Offer, OfferInput, Publisher, PublisherInput } from '@app/contracts';
import type { CatalogView } from '@app/decisions';

/**
 * The catalog of a traffic file: its `catalog` line when it has one. A file without one (real
 * datasets) gets an open catalog: every offer and publisher exists, is active and unrestricted,
 * so catalog checks stay silent and only traffic signals are measured.
 */
export class FileCatalog implements CatalogView {
  private offers = new Map<string, Offer>();
  private publishers = new Map<string, Publisher>();
  private advertisers = new Map<string, Advertiser>();
  private open = true;

  load(line: { advertisers?: AdvertiserInput[]; offers?: OfferInput[]; publishers?: PublisherInput[] }): void {
    this.open = false;
    for (const a of line.advertisers ?? [])
      this.advertisers.set(a.id, {
        id: a.id,
        name: a.name,
        status: a.status ?? 'active',
        webhookUrl: a.webhookUrl ?? null,
        postbackAllowedIps: [],
      });
    for (const p of line.publishers ?? []) this.publishers.set(p.id, { id: p.id, name: p.name, status: p.status ?? 'active' });
    for (const o of line.offers ?? []) {
      this.offers.set(o.id, offerFromInput(o));
    }
  }

  get isOpen(): boolean {
    return this.open;
  }

  offer(id: string): Offer | undefined {
    const found = this.offers.get(id);
    if (found || !this.open) return found;
    const made: Offer = offerFromInput({ id, advertiserId: 'unknown', name: id });
    this.offers.set(id, made);
    return made;
  }

  publisher(id: string): Publisher | undefined {
    return this.publishers.get(id) ?? (this.open ? { id, name: id, status: 'active' } : undefined);
  }

  advertiser(id: string): Advertiser | undefined {
    return this.advertisers.get(id);
  }

  /** Offer → advertiser, for replays that must send feedback with the advertiser's key. */
  advertiserOf(offerId: string): string | undefined {
    return this.offers.get(offerId)?.advertiserId;
  }
}
