import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { bytesToStream, readSafetensorsStream, type StreamProgress, type StreamedTensor } from '../../../src/model/safetensors-stream.ts';
import { openFileStream } from '../../../src/model/node-file-source.ts';
import { buildSafetensors, f32Bytes } from '../../helpers/safetensors-builder.ts';
import { fixtureBytes, fixturePath } from '../../helpers/fixture-files.ts';

async function collect(stream: ReadableStream<Uint8Array>, expectedByteLength?: number) {
  const tensors: StreamedTensor[] = [];
  const progress: StreamProgress[] = [];
  let clock = 0;
  const header = await readSafetensorsStream(stream, {
    onTensor: (tensor) => void tensors.push(tensor),
    onProgress: (report) => progress.push(report),
    expectedByteLength,
    now: () => (clock += 10), // 10 ms per clock read: a deterministic, non-zero rate
  });
  return { header, tensors, progress };
}

describe('streaming safetensors reader', () => {
  const file = fixtureBytes('model.bf16.safetensors');
  const reference = new SafetensorsFile(file);

  for (const chunkSize of [1, 7, 4096, 1 << 22]) {
    it(`delivers every tensor byte-identical with ${chunkSize}-byte chunks`, async () => {
      const { header, tensors, progress } = await collect(bytesToStream(file, chunkSize), file.byteLength);
      expect(tensors.map((tensor) => tensor.info.name)).toEqual(reference.header.tensors.map((tensor) => tensor.name));
      for (const tensor of tensors) {
        expect(tensor.bytes.byteOffset).toBe(0);
        expect(Buffer.compare(tensor.bytes, reference.tensorBytes(tensor.info.name))).toBe(0);
      }
      expect(header.fileByteLength).toBe(file.byteLength);
      const last = progress[progress.length - 1];
      expect(last.doneBytes).toBe(file.byteLength);
      expect(last.totalBytes).toBe(file.byteLength);
      expect(last.tensorsDone).toBe(96);
      expect(last.etaSeconds).toBe(0);
      expect(last.bytesPerSecond).toBeGreaterThan(0);
      for (let i = 1; i < progress.length; i++) expect(progress[i].doneBytes).toBeGreaterThanOrEqual(progress[i - 1].doneBytes);
    }, 60_000);
  }

  it('hands over a tensor before later bytes are read (does not buffer the file)', async () => {
    let bytesPulled = 0;
    const chunkSize = 1024;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (bytesPulled >= file.byteLength) return controller.close();
        const chunk = file.slice(bytesPulled, bytesPulled + chunkSize);
        bytesPulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const pulledAtDelivery: number[] = [];
    const ends: number[] = [];
    await readSafetensorsStream(stream, {
      onHeader: (header) => void ends.push(...header.tensors.map((tensor) => header.dataOffset + tensor.end)),
      onTensor: () => void pulledAtDelivery.push(bytesPulled),
    });
    // Each tensor arrives within one chunk (plus the stream's read-ahead) of its last byte.
    pulledAtDelivery.forEach((pulled, index) => expect(pulled - ends[index]).toBeLessThanOrEqual(2 * chunkSize));
    expect(pulledAtDelivery[0]).toBeLessThan(file.byteLength / 4);
  });

  it('reports rate and ETA from the clock: 1 ms per KB read gives ~1 MB/s and a consistent ETA', async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= file.byteLength) return controller.close();
        const chunk = file.slice(pulled, pulled + 10_000);
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const reports: StreamProgress[] = [];
    await readSafetensorsStream(stream, {
      onTensor: () => undefined,
      onProgress: (progress) => reports.push(progress),
      now: () => pulled / 1000, // milliseconds: 1 ms per 1000 bytes pulled
      progressIntervalMs: 0,
    });
    const later = reports.filter((report) => report.doneBytes > 50_000);
    expect(later.length).toBeGreaterThan(10);
    for (const report of later) {
      // doneBytes lags the bytes pulled by at most one chunk, so the rate is within 10 KB of 1 MB/s·(done/pulled).
      expect(report.bytesPerSecond).toBeGreaterThan(0.8e6);
      expect(report.bytesPerSecond).toBeLessThanOrEqual(1e6 + 1e-6);
      expect(report.totalBytes).toBe(file.byteLength);
      expect(report.etaSeconds! * report.bytesPerSecond + report.doneBytes).toBeCloseTo(file.byteLength, 3);
    }
    expect(reports[reports.length - 1].tensorsTotal).toBe(96);
  });

  it('waits for an async onTensor before reading on', async () => {
    const order: string[] = [];
    const bytes = buildSafetensors([
      { name: 'a', dtype: 'F32', shape: [1], data: f32Bytes([1]) },
      { name: 'b', dtype: 'F32', shape: [1], data: f32Bytes([2]) },
    ]);
    await readSafetensorsStream(bytesToStream(bytes, 3), {
      onTensor: async (tensor) => {
        order.push(`start ${tensor.info.name}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push(`end ${tensor.info.name}`);
      },
    });
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b']);
  });

  it('delivers zero-size tensors', async () => {
    const bytes = buildSafetensors([
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
      { name: 'x', dtype: 'F32', shape: [2], data: f32Bytes([5, 6]) },
    ]);
    const { tensors } = await collect(bytesToStream(bytes, 5));
    expect(tensors.map((tensor) => [tensor.info.name, tensor.bytes.byteLength])).toEqual([['empty', 0], ['x', 8]]);
  });

  it('reports a truncated stream, naming the incomplete tensor', async () => {
    const cut = file.slice(0, file.byteLength - 100);
    const names: string[] = [];
    const error = await readSafetensorsStream(bytesToStream(cut, 7777), { onTensor: (tensor) => void names.push(tensor.info.name) }).catch((caught) => caught);
    const lastName = reference.header.tensors[95].name;
    expect(error.message).toMatch(new RegExp(`truncated.*tensor '${lastName.replace(/\./g, '\\.')}' is incomplete`));
    expect(names).toHaveLength(95);
  });

  it('reports streams that end inside the header, or carry extra bytes', async () => {
    await expect(collect(bytesToStream(file.slice(0, 5), 2))).rejects.toThrow(/inside the header length/);
    await expect(collect(bytesToStream(file.slice(0, 100), 2))).rejects.toThrow(/inside the header/);
    const longer = new Uint8Array(file.byteLength + 3);
    longer.set(file);
    await expect(collect(bytesToStream(longer, 4096))).rejects.toThrow(/bytes after the last tensor/);
    await expect(collect(bytesToStream(file, 4096), file.byteLength + 3)).rejects.toThrow(/File has 3 bytes after the last tensor/);
  });

  it('streams a file from disk in Node', async () => {
    const { stream, byteLength } = await openFileStream(fixturePath('model.safetensors'), 65536);
    const { tensors } = await collect(stream, byteLength);
    const f32 = new SafetensorsFile(fixtureBytes('model.safetensors'));
    expect(tensors).toHaveLength(96);
    const wte = tensors.find((tensor) => tensor.info.name === 'model.text.wte')!;
    expect(Buffer.compare(wte.bytes, f32.tensorBytes('model.text.wte'))).toBe(0);
    await expect(openFileStream(fixturePath('missing.safetensors'))).rejects.toThrow(/Cannot open the weights file .*missing\.safetensors: ENOENT/);
  });
});
