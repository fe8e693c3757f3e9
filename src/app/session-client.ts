// The page's only way to the worker: a typed comlink Remote of the worker's session. The
// worker starts on first use. If it dies (fails to load, runs out of memory) its pending calls
// would never settle, so listeners hear about it and the next call starts a fresh worker.
import { releaseProxy, wrap, type Remote } from 'comlink';
import type { TrainerSessionApi } from '../../workers/session-api.ts';

type CrashListener = (message: string) => void;

let session: Remote<TrainerSessionApi> | undefined;
const crashListeners = new Set<CrashListener>();

export function trainerSession(): Remote<TrainerSessionApi> {
  if (session) return session;
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), {
    type: 'module',
    name: 'moontune-trainer',
  });
  const remote = wrap<TrainerSessionApi>(worker);
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    if (session === remote) session = undefined;
    remote[releaseProxy]();
    worker.terminate();
    const message = `The background worker stopped (${event.message || 'it could not start'}). If it keeps happening, reload the page.`;
    for (const listener of crashListeners) listener(message);
  });
  session = remote;
  return remote;
}

/** Calls `listener` with a message a person can act on whenever the worker dies. */
export function onWorkerCrash(listener: CrashListener): () => void {
  crashListeners.add(listener);
  return () => crashListeners.delete(listener);
}
