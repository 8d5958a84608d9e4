/**
 * `Date.parse` of an event time, fast for the form every normalised event carries
 * (`toISOString()`: `YYYY-MM-DDTHH:MM:SS.sssZ`, 24 characters) and `Date.parse` itself for any
 * other. The scorer parses two per click (event time, receive time); `Date.parse` costs about
 * 170 ns each, this about 50 (Node 20). Same result as `Date.parse` for every input.
 */
export function parseIsoMs(s: string): number {
  if (s.length !== 24) return Date.parse(s);
  // Separators where toISOString puts them, and only digits between them.
  if (
    s.charCodeAt(4) !== 45 ||
    s.charCodeAt(7) !== 45 ||
    s.charCodeAt(10) !== 84 ||
    s.charCodeAt(13) !== 58 ||
    s.charCodeAt(16) !== 58 ||
    s.charCodeAt(19) !== 46 ||
    s.charCodeAt(23) !== 90
  )
    return Date.parse(s);
  const y0 = digit(s, 0);
  const y1 = digit(s, 1);
  const y2 = digit(s, 2);
  const y3 = digit(s, 3);
  const mo0 = digit(s, 5);
  const mo1 = digit(s, 6);
  const d0 = digit(s, 8);
  const d1 = digit(s, 9);
  const h0 = digit(s, 11);
  const h1 = digit(s, 12);
  const mi0 = digit(s, 14);
  const mi1 = digit(s, 15);
  const s0 = digit(s, 17);
  const s1 = digit(s, 18);
  const ms0 = digit(s, 20);
  const ms1 = digit(s, 21);
  const ms2 = digit(s, 22);
  if (
    y0 > 9 ||
    y1 > 9 ||
    y2 > 9 ||
    y3 > 9 ||
    mo0 > 9 ||
    mo1 > 9 ||
    d0 > 9 ||
    d1 > 9 ||
    h0 > 9 ||
    h1 > 9 ||
    mi0 > 9 ||
    mi1 > 9 ||
    s0 > 9 ||
    s1 > 9 ||
    ms0 > 9 ||
    ms1 > 9 ||
    ms2 > 9
  )
    return Date.parse(s);
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  const month = mo0 * 10 + mo1;
  const day = d0 * 10 + d1;
  const hour = h0 * 10 + h1;
  const minute = mi0 * 10 + mi1;
  const second = s0 * 10 + s1;
  const ms = ms0 * 100 + ms1 * 10 + ms2;
  // Month lengths, leap days and 24:00 are Date.parse's to judge.
  if (month < 1 || month > 12 || day < 1 || day > 28 || hour > 23 || minute > 59 || second > 59) return Date.parse(s);
  return (daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1000 + ms;
}

/** The digit at `i`, or a number above 9 for any other character (unsigned: below '0' wraps round). */
function digit(s: string, i: number): number {
  return (s.charCodeAt(i) - 48) >>> 0;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}
