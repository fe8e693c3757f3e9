// The device the benchmark runs on, shared by moontune's engine and the TensorFlow.js baseline:
// one Dawn GPU object, one adapter, one GPUDevice, so both are timed on exactly the same thing.
import type { GpuContext } from '../device.ts';
import { acquireDawnDevice, createDawnGpu } from '../node-device.ts';

export interface BenchDevice {
  gpu: GPU;
  context: GpuContext;
}

export async function acquireBenchDevice(swiftShader: boolean): Promise<BenchDevice> {
  const { gpu } = await createDawnGpu({ swiftShader });
  // TensorFlow.js looks for navigator.gpu; Node has no navigator of its own before v21.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const context = await acquireDawnDevice(gpu, { wantF16: true }, swiftShader);
  return { gpu, context };
}
