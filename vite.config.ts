import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  plugins: [svelte()],
  // Relative asset paths so the built page works from any sub-path it is hosted under.
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
