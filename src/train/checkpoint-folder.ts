// Checkpoints in a folder (Node; the CLI's --out). checkpoint.json holds the small fields and the
// tensor index, checkpoint.safetensors the tensors as f32 `<group>.<index>`, read back with the
// project's safetensors reader. Each file is written under a temporary name and renamed, tensors
// first, so checkpoint.json always describes a complete tensor file. A folder holds one run: its
// run id is stored, not matched, so `latest(anyId)` is the folder's run.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHeader, readHeaderLength, SafetensorsFile, type SafetensorsHeader } from '../model/safetensors.ts';
import { writeSafetensors } from '../model/safetensors-writer.ts';
import {
  CheckpointDamagedError,
  CheckpointDatasetMismatchError,
  checkShapes,
  datasetMismatchMessage,
  summarize,
  TENSOR_GROUPS,
  type Checkpoint,
  type CheckpointStore,
  type CheckpointSummary,
  type TensorGroup,
} from './checkpoint-store.ts';

export const CHECKPOINT_JSON = 'checkpoint.json';
export const CHECKPOINT_TENSORS = 'checkpoint.safetensors';

/** checkpoint.json: the summary plus the name and shape of every stored tensor. */
type CheckpointJson = CheckpointSummary & { tensors: Record<TensorGroup, { name: string; shape: number[] }[]> };

const REQUIRED_FIELDS = ['runId', 'step', 'savedAt', 'config', 'datasetFingerprint', 'dataOrder', 'randomState', 'metricHistory', 'tensors'] as const;
const START_AGAIN = 'start a new run in another folder';

export class FolderCheckpointStore implements CheckpointStore {
  readonly singleRun = true;
  constructor(readonly folder: string) {}

  async save(checkpoint: Checkpoint): Promise<CheckpointSummary> {
    checkShapes(checkpoint);
    mkdirSync(this.folder, { recursive: true });
    const summary = summarize(checkpoint);
    const tensors = TENSOR_GROUPS.flatMap((group) => checkpoint[group].map((tensor, index) => ({ name: `${group}.${index}`, shape: tensor.shape, values: tensor.values })));
    const index = Object.fromEntries(TENSOR_GROUPS.map((group) => [group, checkpoint[group].map(({ name, shape }) => ({ name, shape }))]));
    this.writeAtomically(CHECKPOINT_TENSORS, writeSafetensors(tensors));
    this.writeAtomically(CHECKPOINT_JSON, new TextEncoder().encode(JSON.stringify({ ...summary, tensors: index }, null, 1)));
    return summary;
  }

  async latestSummary(): Promise<CheckpointSummary | null> {
    const json = this.readJson();
    if (!json) return null;
    const { tensors: _index, ...summary } = json;
    return summary;
  }

  /** The folder holds one run: its checkpoint, if any. */
  async runSummaries(): Promise<CheckpointSummary[]> {
    const summary = await this.latestSummary();
    return summary ? [summary] : [];
  }

  async latest(_runId: string, expectedDatasetFingerprint?: string): Promise<Checkpoint | null> {
    const json = this.readJson();
    if (!json) return null;
    if (expectedDatasetFingerprint !== undefined && json.datasetFingerprint !== expectedDatasetFingerprint) {
      throw new CheckpointDatasetMismatchError(datasetMismatchMessage(json.runId));
    }
    const file = new SafetensorsFile(this.readTensorFile(json));
    const group = (name: TensorGroup) =>
      json.tensors[name].map(({ name: tensorName, shape }, index) => {
        if (!file.header.byName.has(`${name}.${index}`)) throw this.damaged(`${this.path(CHECKPOINT_TENSORS)} lacks ${name}.${index}, which ${CHECKPOINT_JSON} lists`);
        return { name: tensorName, shape, values: file.float32(`${name}.${index}`) };
      });
    const { tensors: _index, tensorBytes: _bytes, tensorCount: _count, ...fields } = json;
    return { ...fields, parameters: group('parameters'), firstMoments: group('firstMoments'), secondMoments: group('secondMoments') };
  }

  async deleteRun(): Promise<void> {
    for (const file of [CHECKPOINT_TENSORS, CHECKPOINT_JSON]) rmSync(this.path(file), { force: true });
  }

  /**
   * Checks what `latest` would read without reading the tensors: checkpoint.json is valid and the
   * tensor file is whole. Returns the summary, or null when the folder holds no checkpoint.
   */
  check(): CheckpointSummary | null {
    const json = this.readJson();
    if (!json) return null;
    const header = this.readTensorHeader(json);
    for (const group of TENSOR_GROUPS) {
      json.tensors[group].forEach((_, index) => {
        if (!header.byName.has(`${group}.${index}`)) throw this.damaged(`${this.path(CHECKPOINT_TENSORS)} lacks ${group}.${index}, which ${CHECKPOINT_JSON} lists`);
      });
    }
    const { tensors: _index, ...summary } = json;
    return summary;
  }

  private path(file: string): string {
    return join(this.folder, file);
  }

  private damaged(what: string): CheckpointDamagedError {
    return new CheckpointDamagedError(`${what}; the checkpoint cannot be resumed: ${START_AGAIN}.`);
  }

  /** checkpoint.json parsed and checked for its fields, or null when there is none. */
  private readJson(): CheckpointJson | null {
    const path = this.path(CHECKPOINT_JSON);
    if (!existsSync(path)) return null;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw this.damaged(`${path} is not valid JSON (${(error as Error).message})`);
    }
    if (typeof json !== 'object' || json === null) throw this.damaged(`${path} is not a JSON object`);
    const missing = REQUIRED_FIELDS.filter((field) => !(field in json));
    if (missing.length > 0) throw this.damaged(`${path} lacks ${missing.join(', ')}`);
    const { step, tensors } = json as CheckpointJson;
    if (!Number.isInteger(step) || step < 0) throw this.damaged(`${path} has step ${JSON.stringify(step)}, not a step count`);
    if (!TENSOR_GROUPS.every((group) => Array.isArray(tensors?.[group]))) throw this.damaged(`${path} has no tensor list for ${TENSOR_GROUPS.join(', ')}`);
    return json as CheckpointJson;
  }

  /** The header of checkpoint.safetensors, after checking the file holds all the data it promises. */
  private readTensorHeader(json: CheckpointJson): SafetensorsHeader {
    const path = this.path(CHECKPOINT_TENSORS);
    if (!existsSync(path)) throw this.damaged(`${path} is missing (${CHECKPOINT_JSON} of step ${json.step} needs it)`);
    const descriptor = openSync(path, 'r');
    try {
      const size = fstatSync(descriptor).size;
      const read = (length: number, position: number) => {
        const bytes = new Uint8Array(Math.max(0, Math.min(length, size - position)));
        readSync(descriptor, bytes, 0, bytes.length, position);
        return bytes;
      };
      let header: SafetensorsHeader;
      try {
        if (size < 8) throw new RangeError('too short');
        const headerLength = readHeaderLength(read(8, 0));
        if (8 + headerLength > size) throw new RangeError('too short');
        header = parseHeader(read(headerLength, 8));
      } catch (error) {
        if (error instanceof RangeError) throw this.damaged(`${path} is truncated: ${size} bytes, shorter than its own header`);
        throw this.damaged(`${path} is not a readable tensor file (${(error as Error).message.split('. ')[0]})`);
      }
      if (size < header.fileByteLength) throw this.damaged(`${path} is truncated: ${size} of ${header.fileByteLength} bytes`);
      if (size > header.fileByteLength) throw this.damaged(`${path} has ${size - header.fileByteLength} bytes past its last tensor`);
      return header;
    } finally {
      closeSync(descriptor);
    }
  }

  /** The whole tensor file, checked as readTensorHeader does. */
  private readTensorFile(json: CheckpointJson): Uint8Array {
    this.readTensorHeader(json);
    return new Uint8Array(readFileSync(this.path(CHECKPOINT_TENSORS)));
  }

  private writeAtomically(file: string, bytes: Uint8Array): void {
    const path = this.path(file);
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
  }
}
