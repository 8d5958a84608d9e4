import { REPORT_FILE, reportTable } from './accounting';

/** Prints the run's results table (one row per fault) after the suite. */
export default function globalTeardown(): void {
  const table = reportTable();
  if (table) process.stdout.write(`\nFault injection results (${REPORT_FILE}):\n\n${table}\n\n`);
}
