// `engine serve-demo`: serve the in-browser classifier page for a model until interrupted.
import type { Argv } from 'yargs';
import { serveDemo } from '../demo/serve.js';
import { parseIntFlag } from './args.js';

export function serveDemoCommand(yargs: Argv) {
  return yargs.command(
    'serve-demo',
    'serve a web page that classifies an image entirely in the browser (onnxruntime-web), until Ctrl-C',
    (y) =>
      y
        .option('model', { type: 'string', describe: 'an exported .onnx model' })
        .option('weights', { type: 'string', describe: 'a checkpoint (.safetensors), exported in memory' })
        .option('port', { type: 'string', default: '8000', describe: 'TCP port (0: any free one)' })
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0: every interface)' })
        .epilog('Without --model or --weights: the newest run under ./runs (as for engine eval).'),
    async (argv) => {
      const server = await serveDemo({ model: argv.model, weights: argv.weights, port: parseIntFlag('port', argv.port), host: argv.host });
      process.stdout.write(`demo at ${server.url} (model: ${server.model}); Ctrl-C to stop\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    },
  );
}
