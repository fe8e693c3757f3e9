// The page's only way to the worker: a typed comlink Remote of the worker's session. The
// worker starts on first use, so a page that never loads anything never spawns it.
import { wrap, type Remote } from 'comlink';
import type { TrainerSessionApi } from '../../workers/session-api.ts';

let session: Remote<TrainerSessionApi> | undefined;

export function trainerSession(): Remote<TrainerSessionApi> {
  session ??= wrap<TrainerSessionApi>(
    new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module', name: 'moontune-trainer' }),
  );
  return session;
}
