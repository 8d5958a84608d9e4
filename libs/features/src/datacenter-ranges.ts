/**
 * A starter list of well-known hosting and cloud ranges for DATACENTER_IP, so the rule does
 * something out of the box. It is deliberately short and conservative (whole blocks the
 * providers have long announced); operators should supply current lists through the rule set
 * (`lists.datacenterCidrs`) — AWS, Google Cloud, Azure and Oracle publish theirs as JSON.
 */
export const STARTER_DATACENTER_RANGES: readonly { cidr: string; label: string }[] = [
  ...[
    '104.131.0.0/16',
    '138.68.0.0/16',
    '142.93.0.0/16',
    '159.65.0.0/16',
    '159.89.0.0/16',
    '165.227.0.0/16',
    '167.71.0.0/16',
    '167.99.0.0/16',
    '178.62.0.0/16',
    '188.166.0.0/16',
    '206.189.0.0/16',
  ].map((cidr) => ({ cidr, label: 'DigitalOcean' })),
  ...['5.9.0.0/16', '78.46.0.0/15', '88.198.0.0/16', '95.216.0.0/16', '135.181.0.0/16', '65.108.0.0/15'].map((cidr) => ({
    cidr,
    label: 'Hetzner',
  })),
  ...[
    '51.38.0.0/16',
    '51.68.0.0/16',
    '51.75.0.0/16',
    '51.77.0.0/16',
    '51.89.0.0/16',
    '51.91.0.0/16',
    '137.74.0.0/16',
    '145.239.0.0/16',
    '149.202.0.0/16',
    '164.132.0.0/16',
    '176.31.0.0/16',
    '188.165.0.0/16',
  ].map((cidr) => ({ cidr, label: 'OVH' })),
  ...['45.33.0.0/17', '50.116.0.0/18', '139.162.0.0/16', '172.104.0.0/15', '173.255.192.0/18'].map((cidr) => ({
    cidr,
    label: 'Linode / Akamai',
  })),
  ...['45.32.0.0/16', '45.63.0.0/16', '45.76.0.0/15', '108.61.0.0/16', '149.28.0.0/16'].map((cidr) => ({ cidr, label: 'Vultr' })),
  ...['54.144.0.0/12', '54.160.0.0/11', '54.208.0.0/13', '3.208.0.0/12', '18.204.0.0/14', '52.0.0.0/11'].map((cidr) => ({
    cidr,
    label: 'Amazon Web Services',
  })),
  ...['34.64.0.0/10', '35.184.0.0/13', '35.192.0.0/12', '104.154.0.0/15', '104.196.0.0/14'].map((cidr) => ({
    cidr,
    label: 'Google Cloud',
  })),
  ...['20.36.0.0/14', '40.112.0.0/13', '52.224.0.0/11', '13.64.0.0/11'].map((cidr) => ({ cidr, label: 'Microsoft Azure' })),
  ...['129.146.0.0/16', '132.145.0.0/16', '140.238.0.0/16', '152.67.0.0/16', '158.101.0.0/16'].map((cidr) => ({
    cidr,
    label: 'Oracle Cloud',
  })),
];
