// Ctrl-C (SIGINT) and SIGTERM for every command. By default the temp files and folders of unfinished writes are
// removed and the process exits 128 + the signal's number. A command that can stop cleanly (train marks its run
// interrupted, serve-demo closes its connections) takes the first signal with onInterrupt; a second one exits.
import { removeLiveTemps } from '../io/atomic.js';

type Signal = 'SIGINT' | 'SIGTERM';
const CODES: Record<Signal, number> = { SIGINT: 130, SIGTERM: 143 };

let graceful: ((signal: Signal) => void) | undefined;
let installed = false;

export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const signal of Object.keys(CODES) as Signal[])
    process.on(signal, () => {
      const handler = graceful;
      graceful = undefined;
      if (handler) return handler(signal);
      removeLiveTemps();
      process.exit(CODES[signal]);
    });
}

/** Lets `handler` take the next SIGINT/SIGTERM instead of the exit; returns the function that takes it back. */
export function onInterrupt(handler: (signal: Signal) => void): () => void {
  graceful = handler;
  return () => {
    if (graceful === handler) graceful = undefined;
  };
}
