import { Module } from '@nestjs/common';
import { FeedbackController } from './feedback.controller';
import { FeedbackService } from './feedback.service';

/** `POST /v1/feedback`, served by the gateway and the API alike. Needs StorageModule and MessagingModule. */
@Module({ controllers: [FeedbackController], providers: [FeedbackService], exports: [FeedbackService] })
export class FeedbackModule {}
