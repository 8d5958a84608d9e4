import { InvalidArgumentError } from 'commander';

/** A positive integer option. */
export function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}
