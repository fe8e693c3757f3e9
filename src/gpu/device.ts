// Acquiring a GPUDevice on either host: the browser (navigator.gpu, page or worker) or Node
// (the `webgpu` package, Dawn). The engine only ever sees the returned GpuContext.

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  /** shader-f16 is enabled: frozen weights may be stored as f16. */
  hasF16: boolean;
  /** subgroups is enabled: kernels may use subgroup reductions. */
  hasSubgroups: boolean;
  /** Resolves (never rejects) when the device is lost, with a message a person can act on. */
  lost: Promise<string>;
}

export interface AcquireOptions {
  /** Ask for shader-f16 when the adapter has it (default true). */
  wantF16?: boolean;
  powerPreference?: GPUPowerPreference;
  /**
   * Take WebGPU's default limits (maxStorageBufferBindingSize 128 MiB, maxBufferSize 256 MiB),
   * as a browser may grant no more, instead of asking for the adapter's.
   */
  defaultLimits?: boolean;
}

export class WebGpuUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebGpuUnavailableError';
  }
}

/** Requests the adapter's real limits rather than the small defaults WebGPU gives otherwise. */
function limitsToRequest(adapter: GPUAdapter): Record<string, number> {
  const wanted = [
    'maxBufferSize',
    'maxStorageBufferBindingSize',
    'maxStorageBuffersPerShaderStage',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ',
    'maxComputeWorkgroupsPerDimension',
  ] as const;
  const limits: Record<string, number> = {};
  for (const name of wanted) limits[name] = adapter.limits[name];
  return limits;
}

/** Gets a device from a `GPU` object (navigator.gpu in a browser, `create([])` in Node). */
export async function acquireDeviceFrom(gpu: GPU | undefined, options: AcquireOptions = {}): Promise<GpuContext> {
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'WebGPU is not available in this browser. Use a recent Chrome or Edge (or Firefox/Safari with WebGPU enabled), served over https or localhost.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'No WebGPU adapter was found. The GPU may be blocklisted or disabled; check chrome://gpu, update the graphics driver, or try another browser.',
    );
  }
  const features: GPUFeatureName[] = [];
  const hasF16 = (options.wantF16 ?? true) && adapter.features.has('shader-f16');
  if (hasF16) features.push('shader-f16');
  const hasSubgroups = adapter.features.has('subgroups' as GPUFeatureName);
  if (hasSubgroups) features.push('subgroups' as GPUFeatureName);
  if (adapter.features.has('timestamp-query')) features.push('timestamp-query');

  const device = await adapter.requestDevice({ requiredFeatures: features, ...(options.defaultLimits ? {} : { requiredLimits: limitsToRequest(adapter) }) });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const lost = device.lost.then(
    (why) =>
      why.reason === 'destroyed'
        ? 'The GPU device was released.'
        : `The GPU device was lost (${why.message || 'no reason given'}). This happens when the GPU runs out of memory, the driver resets, or the tab is in the background too long. Work saved in checkpoints is kept; reload the page to continue.`,
  );
  return {
    device,
    adapterInfo: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    },
    hasF16,
    hasSubgroups,
    lost,
  };
}

/** Browser host: page or dedicated worker. */
export function acquireBrowserDevice(options: AcquireOptions = {}): Promise<GpuContext> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  return acquireDeviceFrom(gpu, options);
}
