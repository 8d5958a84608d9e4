#!/usr/bin/env bash
# `npm run test:faults:built`: the fault suite against dist/ (`npm run test:faults` builds first).
#
# Faults run one file at a time (--runInBand): each starts its own services and servers, kills
# some of them, and must see every event through. Two faults spend most of their time waiting
# rather than working: duplicates.test.ts sleeps out JetStream's de-duplication window (at least
# 120 s, the engine's minimum) and database-outage.test.ts keeps its own PostgreSQL stopped for
# 30 s while it sends slowly. They run one after the other in a second lane, beside the first:
# at most two faults at once, and one of them mostly asleep. Neither touches the shared NATS or
# PostgreSQL server beyond its own namespace and database, and every server a fault stops is
# its own, on a port of its own. With file arguments: those files, in band, in one lane.
set -uo pipefail
cd "$(dirname "$0")/../.."
export NODE_OPTIONS="--experimental-vm-modules --disable-warning=ExperimentalWarning"
jest=(node_modules/.bin/jest -c jest.faults.config.js --runInBand)

if [ "$#" -gt 0 ]; then
  exec "${jest[@]}" "$@"
fi

waiting=(test/faults/duplicates.test.ts test/faults/database-outage.test.ts)
report="${FAULTS_REPORT:-test/faults/.report.jsonl}"
[ -n "${FAULTS_REPORT_APPEND:-}" ] || rm -f "$report"
export FAULTS_REPORT_APPEND=1
# The second lane's output is printed once it is done, so that the two do not interleave; the
# first lane (minutes longer) prints the results table of both.
lane2_log=$(mktemp)
FAULTS_NO_TABLE=1 "${jest[@]}" "${waiting[@]}" >"$lane2_log" 2>&1 &
lane2=$!
lane1=0
"${jest[@]}" --testPathIgnorePatterns "${waiting[@]}" || lane1=$?
lane2_status=0
wait "$lane2" || lane2_status=$?
printf '\n== fault lane 2 (%s)\n' "${waiting[*]}"
cat "$lane2_log"
rm -f "$lane2_log"
[ "$lane1" -eq 0 ] && [ "$lane2_status" -eq 0 ]
