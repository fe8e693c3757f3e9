// Node host: WebGPU through the `webgpu` package (Dawn). On machines without a GPU, Dawn reaches
// the CPU through Vulkan's SwiftShader, whose ICD file ships with Debian's chromium package.
import { existsSync } from 'node:fs';
import { acquireDeviceFrom, WebGpuUnavailableError, type AcquireOptions, type GpuContext } from './device.ts';

const SWIFTSHADER_ICD_CANDIDATES = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

/** Path of a SwiftShader Vulkan ICD on this machine, or undefined. */
export function findSwiftShaderIcd(): string | undefined {
  return SWIFTSHADER_ICD_CANDIDATES.find((path) => existsSync(path));
}

export interface NodeAcquireOptions extends AcquireOptions {
  /** Force the CPU (SwiftShader) even when a GPU driver is present. Default: env MOONTUNE_SWIFTSHADER=1. */
  swiftShader?: boolean;
  /** Dawn toggles, e.g. ['vulkan_enable_f16_on_nvidia']. */
  dawnToggles?: string[];
}

// dawn.node destroys its instance when the GPU object is garbage-collected, even while devices
// made from it are alive; its event pump then locks a freed mutex and the process aborts or
// segfaults at random. Every GPU object handed out is therefore kept for the process's life.
const liveInstances: GPU[] = [];

export async function acquireNodeDevice(options: NodeAcquireOptions = {}): Promise<GpuContext> {
  const { gpu, swiftShader } = await createDawnGpu(options);
  return acquireDawnDevice(gpu, options, swiftShader);
}

/**
 * A Dawn `GPU` object (kept alive for the process), on SwiftShader when asked (options, else env
 * MOONTUNE_SWIFTSHADER=1), with WebGPU's globals (GPUBufferUsage & co.) installed as in a browser.
 */
export async function createDawnGpu(options: NodeAcquireOptions = {}): Promise<{ gpu: GPU; swiftShader: boolean }> {
  const swiftShader = options.swiftShader ?? process.env.MOONTUNE_SWIFTSHADER === '1';
  if (swiftShader && !process.env.VK_ICD_FILENAMES) {
    const icd = findSwiftShaderIcd();
    if (!icd) {
      throw new Error(
        'SwiftShader was asked for but vk_swiftshader_icd.json was not found. Install Debian\'s chromium package (apt-get install -y chromium) or set VK_ICD_FILENAMES.',
      );
    }
    // Read by the Vulkan loader when Dawn creates its instance, i.e. after this point.
    process.env.VK_ICD_FILENAMES = icd;
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const toggles = options.dawnToggles?.length ? [`enable-dawn-features=${options.dawnToggles.join(',')}`] : [];
  const gpu = create(toggles);
  liveInstances.push(gpu);
  return { gpu, swiftShader };
}

/** A device from a Dawn `GPU` object; without SwiftShader, a missing adapter says how to use the CPU. */
export function acquireDawnDevice(gpu: GPU, options: AcquireOptions, swiftShader: boolean): Promise<GpuContext> {
  return acquireDeviceFrom(gpu, options).catch((error: unknown) => {
    throw swiftShader ? error : withCpuHint(error);
  });
}

/**
 * A missing adapter in Node, where the browser's advice (chrome://gpu) does not apply, told with
 * the way to the CPU: most machines without a GPU driver Dawn can use still run SwiftShader.
 */
export function withCpuHint(error: unknown): unknown {
  if (!(error instanceof WebGpuUnavailableError)) return error;
  return new WebGpuUnavailableError(
    `No WebGPU adapter was found: this machine has no GPU driver that Dawn can use. Run with MOONTUNE_SWIFTSHADER=1 to use the CPU (SwiftShader, from Debian's chromium package)${findSwiftShaderIcd() ? '' : '; it is not installed here (apt-get install -y chromium)'}.`,
  );
}
