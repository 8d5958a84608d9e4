import 'reflect-metadata';
import { runService } from '@app/http';
import { startWorkerApp } from '@app/worker';
import { createRecorder } from './recorder.app';

runService('recorder', async (config) => {
  const app = await createRecorder(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'recorder', config.RECORDER_PORT, config.HOST);
});
