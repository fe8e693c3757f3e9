// Page state for WebGPU as the worker sees it (the engine runs in the worker, not the page).
import type { WebGpuReport } from '../../workers/session-api.ts';
import { onWorkerCrash, trainerSession } from './session-client.ts';

class WebGpuStore {
  /** undefined while the worker is still asking for an adapter. */
  report = $state.raw<WebGpuReport | undefined>();

  constructor() {
    onWorkerCrash((message) => {
      if (this.report === undefined) this.report = { available: false, reason: message };
    });
  }

  async probe(): Promise<void> {
    try {
      this.report = await trainerSession().webgpuReport();
    } catch (error) {
      this.report = { available: false, reason: `The worker could not check WebGPU: ${(error as Error).message}` };
    }
  }
}

export const webgpuStore = new WebGpuStore();
