import { parsePublishedRanges } from './published-ranges';

// Excerpts in the shape each provider publishes (real entries, cut short).
const AWS = JSON.stringify({
  syncToken: '1733000000',
  createDate: '2026-11-30-12-00-00',
  prefixes: [
    { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2', service: 'AMAZON', network_border_group: 'ap-northeast-2' },
    { ip_prefix: '3.5.140.0/22', region: 'ap-northeast-2', service: 'S3', network_border_group: 'ap-northeast-2' },
  ],
  ipv6_prefixes: [{ ipv6_prefix: '2600:1f18::/33', region: 'us-east-1', service: 'EC2', network_border_group: 'us-east-1' }],
});
const GOOGLE = JSON.stringify({
  syncToken: '1733000000',
  prefixes: [
    { ipv4Prefix: '34.80.0.0/15', service: 'Google Cloud', scope: 'asia-east1' },
    { ipv6Prefix: '2600:1900:4000::/44', service: 'Google Cloud', scope: 'us-central1' },
  ],
});
const AZURE = JSON.stringify({
  changeNumber: 300,
  cloud: 'Public',
  values: [
    {
      name: 'AzureCloud.eastus',
      id: 'AzureCloud.eastus',
      properties: { region: 'eastus', platform: 'Azure', addressPrefixes: ['20.42.0.0/17', '2603:1030:20e::/48'] },
    },
  ],
});
const ORACLE = JSON.stringify({
  last_updated_timestamp: '2026-11-30T00:00:00',
  regions: [{ region: 'us-phoenix-1', cidrs: [{ cidr: '129.146.0.0/21', tags: ['OCI'] }] }],
});

describe('parsePublishedRanges', () => {
  it.each([
    ['AWS ip-ranges.json', AWS, ['3.5.140.0/22', '2600:1f18::/33']],
    ['Google Cloud cloud.json', GOOGLE, ['34.80.0.0/15', '2600:1900:4000::/44']],
    ['Azure service tags', AZURE, ['20.42.0.0/17', '2603:1030:20e::/48']],
    ['Oracle public_ip_ranges.json', ORACLE, ['129.146.0.0/21']],
    ['a JSON array', '["45.76.0.0/15", "2001:19f0::/32"]', ['45.76.0.0/15', '2001:19f0::/32']],
    [
      'a geofeed CSV (RFC 8805)',
      '# DigitalOcean geofeed\n104.131.0.0/18,US,US-NY,New York,10014\n2604:a880::/32,US,US-NY,New York,10014\n',
      ['104.131.0.0/18', '2604:a880::/32'],
    ],
    ['one range per line', '167.99.0.0/16\r\n\r\n  # a comment\n203.0.113.9\n', ['167.99.0.0/16', '203.0.113.9']],
  ])('reads %s', (_format, text, expected) => {
    expect(parsePublishedRanges(text)).toEqual(expected);
  });

  it('refuses a text line that is not a range, naming it', () => {
    expect(() => parsePublishedRanges('10.0.0.0/8\nnot-a-range\n')).toThrow('"not-a-range" is not an IP address or CIDR range');
  });
});
