// The device the benchmark runs on, shared by moontune's engine and the TensorFlow.js baseline:
// one Dawn GPU object, one adapter, one GPUDevice, so both are timed on exactly the same thing.
import { acquireDeviceFrom, type GpuContext } from '../device.ts';
import { findSwiftShaderIcd, withCpuHint } from '../node-device.ts';

export interface BenchDevice {
  gpu: GPU;
  context: GpuContext;
}

// Dawn destroys its instance when the GPU object is garbage-collected (see node-device.ts).
const liveInstances: GPU[] = [];

export async function acquireBenchDevice(swiftShader: boolean): Promise<BenchDevice> {
  if (swiftShader && !process.env.VK_ICD_FILENAMES) {
    const icd = findSwiftShaderIcd();
    if (!icd) {
      throw new Error(
        "MOONTUNE_SWIFTSHADER=1 but vk_swiftshader_icd.json was not found. Install Debian's chromium package or set VK_ICD_FILENAMES.",
      );
    }
    process.env.VK_ICD_FILENAMES = icd;
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]);
  liveInstances.push(gpu);
  // TensorFlow.js looks for navigator.gpu; Node has no navigator of its own before v21.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const context = await acquireDeviceFrom(gpu, { wantF16: true }).catch((error: unknown) => {
    throw swiftShader ? error : withCpuHint(error);
  });
  return { gpu, context };
}
