import { rootLogger } from '@app/observability';

// Tests assert on behaviour, not on log lines: keep the output readable unless asked.
rootLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
