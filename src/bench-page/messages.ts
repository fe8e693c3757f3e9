// What the bench page and its worker say to each other (postMessage, structured clone).
import type { BenchRow } from '../gpu/bench/bench-row.ts';

export interface BenchOptions {
  /** Model-sized shapes (minutes even on a fast GPU) rather than the scaled-down defaults. */
  full: boolean;
  /** Time TensorFlow.js's WebGPU backend on the same device for the matmul rows. */
  withTfjs: boolean;
  /** Skip the attention and model rows. */
  matmulOnly: boolean;
  /** One 64³ matmul row only (?quick=1): checks the whole path in seconds. */
  quick: boolean;
}

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  hasF16: boolean;
  hasSubgroups: boolean;
  features: string[];
  limits: Record<string, number>;
}

export type PageToWorker = { type: 'run'; options: BenchOptions };

export type WorkerToPage =
  | { type: 'adapter'; adapter: AdapterReport }
  | { type: 'log'; line: string }
  | { type: 'row'; row: BenchRow }
  | { type: 'done'; rows: BenchRow[]; table: string; speedups: string }
  | { type: 'error'; message: string };
