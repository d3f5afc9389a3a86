// `engine serve-demo`: serve the in-browser classifier page for a model until interrupted.
import type { Argv } from 'yargs';
import type { DemoServerOptions } from '../demo/serve.js';
import { SERVE_DEMO_OPTIONS } from '../options/serve-demo.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';
import { onInterrupt } from './signals.js';

export function serveDemoCommand(yargs: Argv) {
  return yargs.command(
    'serve-demo',
    'serve a web page that classifies an image entirely in the browser (onnxruntime-web), until Ctrl-C',
    (y) =>
      addOptions(y, SERVE_DEMO_OPTIONS).epilog(
        helpEpilog(
          [
            ['engine serve-demo --model runs/seed1/model.onnx', 'then open http://127.0.0.1:8000/ and drop a photo on the page'],
            ['engine serve-demo --port 8080 --host 0.0.0.0', "the newest run's model, on every interface of this machine"],
          ],
          'Without --model or --weights: the newest run under ./runs (as for engine eval).',
        ),
      ),
    async (argv) => {
      const { serveDemo } = await import('../demo/serve.js');
      const server = await serveDemo(readFlags<DemoServerOptions>(SERVE_DEMO_OPTIONS, argv));
      if (!server.loopback)
        process.stderr.write(`warning: ${server.url} is open to other machines on the network, not only this one (--host 127.0.0.1: this machine only)\n`);
      process.stdout.write(`demo at ${server.url} (model: ${server.model}); Ctrl-C to stop\n`);
      // Ctrl-C closes every connection, idle ones too: one is enough
      await new Promise<void>((resolve) => onInterrupt(() => void server.close().then(resolve)));
    },
  );
}
