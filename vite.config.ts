import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  plugins: [svelte()],
  // Relative asset paths, so the built page (its worker, the demo dataset and model, bench.html)
  // works from any sub-path it is hosted under: test/e2e/deploy.test.ts serves dist/ at /moontune/.
  base: './',
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    sourcemap: true,
    // Two pages: the app, and bench.html (the benchmarks on the visitor's GPU).
    rolldownOptions: { input: { index: 'index.html', bench: 'bench.html' } },
  },
  preview: { port: 4173, strictPort: false },
});
