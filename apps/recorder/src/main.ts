import 'reflect-metadata';
import { startWorkerApp, runService } from '@app/http';
import { createRecorder } from './recorder.app';

runService('recorder', async (config) => {
  const app = await createRecorder(config);
  app.enableShutdownHooks();
  await startWorkerApp(app, 'recorder', config.RECORDER_PORT, config.HOST);
});
