// TensorFlow.js's WebGPU backend as the baseline, running on the benchmark's own GPUDevice.
// Its work is synchronised like ours: submit the queue, await onSubmittedWorkDone().
// Host-neutral: Node passes the Dawn device from bench-device.ts, the bench page (a worker) the
// device it got from navigator.gpu. TF.js itself reads navigator.gpu, which both hosts provide.
import type { GpuContext } from '../device.ts';

type TfCore = typeof import('@tensorflow/tfjs-core');
type TfTensor2D = import('@tensorflow/tfjs-core').Tensor2D;

export interface TfjsBaseline {
  /** Uploads A [M, K] and B ([K, N], or [N, K] when transposeB); returns a timed runner. */
  prepareMatmul(
    aData: Float32Array,
    bData: Float32Array,
    M: number,
    N: number,
    K: number,
    transposeB: boolean,
  ): { run: () => Promise<void>; read: () => Promise<Float32Array>; dispose: () => void };
}

export async function startTfjsBaseline(context: GpuContext): Promise<TfjsBaseline> {
  const tf: TfCore = await import('@tensorflow/tfjs-core');
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  const backend = new WebGPUBackend(context.device);
  // The package registered a 'webgpu' factory that would request its own device; replace it so
  // TF.js's kernels (registered for the name 'webgpu') run on our device.
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend, 100);
  if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js could not start its WebGPU backend');
  await tf.ready();
  const sync = async () => {
    // submitQueue() finishes TF.js's encoder but does not end its open compute pass.
    backend.endComputePassEncoder();
    // commandEncoder is private in TF.js's typings; it is null when nothing is recorded.
    if ((backend as unknown as { commandEncoder: GPUCommandEncoder | null }).commandEncoder) backend.submitQueue();
    await context.device.queue.onSubmittedWorkDone();
  };
  return {
    prepareMatmul(aData, bData, M, N, K, transposeB) {
      const a = tf.tensor2d(aData, [M, K]);
      const b = tf.tensor2d(bData, transposeB ? [N, K] : [K, N]);
      return {
        async run() {
          const c = tf.matMul(a, b, false, transposeB);
          await sync();
          c.dispose();
        },
        async read() {
          const c = tf.matMul(a, b, false, transposeB) as TfTensor2D;
          const data = (await c.data()) as Float32Array;
          c.dispose();
          return data;
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}
