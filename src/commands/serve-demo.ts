// `engine serve-demo`: serve the in-browser classifier page for a model until interrupted.
import type { Argv } from 'yargs';
import { serveDemo, type DemoServerOptions } from '../demo/serve.js';
import { SERVE_DEMO_OPTIONS } from '../options/serve-demo.js';
import { addOptions, readFlags } from './flags.js';

export function serveDemoCommand(yargs: Argv) {
  return yargs.command(
    'serve-demo',
    'serve a web page that classifies an image entirely in the browser (onnxruntime-web), until Ctrl-C',
    (y) => addOptions(y, SERVE_DEMO_OPTIONS).epilog('Without --model or --weights: the newest run under ./runs (as for engine eval).'),
    async (argv) => {
      const server = await serveDemo(readFlags<DemoServerOptions>(SERVE_DEMO_OPTIONS, argv));
      process.stdout.write(`demo at ${server.url} (model: ${server.model}); Ctrl-C to stop\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    },
  );
}
