export * from './feedback.service';
export * from './feedback.module';
