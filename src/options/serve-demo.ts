// `engine serve-demo`'s options: the table the command is generated from and the defaults serveDemo() applies.
import { UsageError } from '../errors.js';
import { MODEL_CHOICE_OPTIONS } from './common.js';
import { withDefaults, type OptionTable } from './table.js';

export const SERVE_DEMO_OPTIONS: OptionTable = [
  ...MODEL_CHOICE_OPTIONS,
  { flag: 'port', type: 'integer', default: 8000, description: 'TCP port (0: any free one)' },
  { flag: 'host', type: 'string', default: '127.0.0.1', description: 'address to listen on (0.0.0.0: every interface)' },
];

/** serveDemo()'s address with the table's defaults, checked. */
export function resolveServeOptions(opts: { port?: number; host?: string }): { port: number; host: string } {
  const { port, host } = withDefaults(SERVE_DEMO_OPTIONS, opts) as { port: number; host: string };
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a whole number in [0, 65535]; got ${port}`);
  // an empty host (an unset variable) would listen on every interface
  if (typeof host !== 'string' || host.trim() === '')
    throw new UsageError(`--host must name an address (127.0.0.1: this machine only; 0.0.0.0: every interface), got ${JSON.stringify(host)}`);
  return { port, host };
}
