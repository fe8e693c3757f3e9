import { defineConfig } from 'vitest/config';

// Three test layers, each a vitest project:
//   unit — plain Node, no GPU;
//   gpu  — Node on the `webgpu` package (Dawn over Vulkan SwiftShader on CPU machines);
//   e2e  — the built page in headless Chromium through playwright-core.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'gpu',
          include: ['test/gpu/**/*.test.ts'],
          environment: 'node',
          // One Dawn instance per process; SwiftShader already uses every core.
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
