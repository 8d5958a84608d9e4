export * from './backtest-report';
export * from './backtester';
