import { REPORT_FILE, reportTable } from './accounting';

/** Prints the run's results table (one row per fault) after the suite (FAULTS_NO_TABLE: not this lane, see run.sh). */
export default function globalTeardown(): void {
  if (process.env.FAULTS_NO_TABLE) return;
  const table = reportTable();
  if (table) process.stdout.write(`\nFault injection results (${REPORT_FILE}):\n\n${table}\n\n`);
}
