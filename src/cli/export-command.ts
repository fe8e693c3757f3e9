// `npm run cli -- export --out <dir> [--model <folder|hub:…> --adapter <file> [--merged]] [--dataset <zip|folder>]`
// The export files of docs/EXPORTS.md from the CLI's run outputs: a train run's adapter as a PEFT
// adapter (and merged into the base weights), the dataset as the JSONL zip. Needs no GPU: merging
// is streamed on the CPU. Each file is written under a temporary name and renamed when complete.
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hasErrors, loadDataset } from '../dataset/load.ts';
import { sourceFromPath } from '../dataset/node-source.ts';
import { openWeights, resolveModelSource, WEIGHTS_FILE } from '../model/model-source.ts';
import { readAdapterFile } from '../train/adapter-export.ts';
import { datasetExportStream } from '../train/dataset-export.ts';
import { mergedModelStream } from '../train/merged-model.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, writePeftAdapter } from '../train/peft-adapter.ts';
import { ArgumentReader, UsageError, modelFilesFromArgument, oneLine } from './cli-shared.ts';

export const DATASET_ZIP = 'dataset-jsonl.zip';

export const usage = `usage: npm run cli -- export --out <dir> [--model <folder|hub:owner/repo@revision> --adapter <file> [--merged]] [--dataset <zip|folder>]

Writes the files that take a moontune run elsewhere (docs/EXPORTS.md says how to load them).

  --out <dir>               where the files go (created if missing)
  --adapter <file>          a moontune LoRA adapter (adapter.safetensors of npm run cli -- train); writes the
                            PEFT adapter ${PEFT_CONFIG_FILE} + ${PEFT_WEIGHTS_FILE}
  --model <folder|hub:…>    the base model the adapter was trained on (its revision decides the PEFT names)
  --revision <id>           revision preset for a model folder whose config does not describe it
  --merged                  also write ${WEIGHTS_FILE}: the base weights with the adapter merged in, in the base file's names and dtype
  --dataset <zip|folder>    write ${DATASET_ZIP}: one JSONL per split (image, question, answer) and the images
  --noun <noun>             the question's noun, as given to train (default: object)
  --help                    this text

Exit code 0 when written, 2 on invalid input, 1 when writing fails.`;

interface ExportArguments {
  out: string;
  adapter?: string;
  model?: string;
  revision?: string;
  merged: boolean;
  dataset?: string;
  noun?: string;
}

function parseArguments(args: string[]): ExportArguments | 'help' {
  const parsed: Partial<ExportArguments> = { merged: false };
  const reader = new ArgumentReader(args);
  const value = (index: number, flag: string) => reader.value(index, flag);
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--merged') parsed.merged = true;
    else if (arg === '--out') parsed.out = value(index++, arg);
    else if (arg === '--adapter') parsed.adapter = value(index++, arg);
    else if (arg === '--model') parsed.model = value(index++, arg);
    else if (arg === '--revision') parsed.revision = value(index++, arg);
    else if (arg === '--dataset') parsed.dataset = value(index++, arg);
    else if (arg === '--noun') parsed.noun = value(index++, arg);
    else throw new UsageError(`unexpected argument ${arg}`);
  }
  if (parsed.out === undefined) throw new UsageError('--out is required');
  if (parsed.adapter === undefined && parsed.dataset === undefined) throw new UsageError('nothing to export: give --adapter (with --model) or --dataset');
  if (parsed.adapter !== undefined && parsed.model === undefined) throw new UsageError('--adapter needs --model, the base model it was trained on');
  if (parsed.merged && parsed.adapter === undefined) throw new UsageError('--merged needs --adapter and --model');
  for (const flag of ['adapter', 'dataset'] as const) {
    if (parsed[flag] !== undefined && !existsSync(parsed[flag])) throw new UsageError(`--${flag} ${parsed[flag]} does not exist`);
  }
  return parsed as ExportArguments;
}

/** Writes a stream to `path` through `path.tmp`, renamed when complete (a failed write leaves no partial file). */
async function writeStream(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  const temporary = `${path}.tmp`;
  try {
    await stream.pipeTo(Writable.toWeb(createWriteStream(temporary)) as WritableStream<Uint8Array>);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

export async function run(args: string[]): Promise<number> {
  let options: ExportArguments | 'help';
  try {
    options = parseArguments(args);
    if (options === 'help') {
      console.log(usage);
      return 0;
    }
  } catch (error) {
    console.error(`export: ${oneLine(error)}${error instanceof UsageError ? '; see --help.' : ''}`);
    return 2;
  }
  const { out } = options;

  // Everything the user gave is read and checked before any file is written.
  let adapterExport: (() => Promise<void>) | undefined;
  let datasetExport: (() => Promise<void>) | undefined;
  try {
    if (options.adapter !== undefined) {
      const adapter = readAdapterFile(new Uint8Array(readFileSync(options.adapter)));
      const files = modelFilesFromArgument(options.model!);
      const { revision } = await resolveModelSource(files, { revisionId: options.revision });
      const peft = writePeftAdapter(adapter, revision);
      const merged = options.merged;
      adapterExport = async () => {
        writeFileSync(join(out, PEFT_CONFIG_FILE), peft.config);
        writeFileSync(join(out, PEFT_WEIGHTS_FILE), peft.weights);
        console.log(`PEFT adapter: ${join(out, PEFT_CONFIG_FILE)}, ${join(out, PEFT_WEIGHTS_FILE)} (rank ${adapter.config.rank}, ${adapter.adapters.size} layers)`);
        if (!merged) return;
        const weights = await openWeights(files);
        await writeStream(join(out, WEIGHTS_FILE), mergedModelStream(weights.stream, adapter, { expectedByteLength: weights.byteLength }));
        console.log(`merged model: ${join(out, WEIGHTS_FILE)} (the base file's names and dtype)`);
      };
    }
    if (options.dataset !== undefined) {
      const source = await sourceFromPath(options.dataset);
      const dataset = await loadDataset(source, options.noun ? { question: { noun: options.noun } } : {});
      if (hasErrors(dataset)) throw new Error(`${options.dataset} has errors; run npm run cli -- dataset ${options.dataset} for the report.`);
      datasetExport = async () => {
        await writeStream(join(out, DATASET_ZIP), datasetExportStream(source, dataset));
        console.log(`dataset: ${join(out, DATASET_ZIP)} (${dataset.images.length} images, a JSONL per split)`);
      };
    }
  } catch (error) {
    console.error(`export: ${oneLine(error)}`);
    return 2;
  }

  try {
    mkdirSync(out, { recursive: true });
    await adapterExport?.();
    await datasetExport?.();
    return 0;
  } catch (error) {
    console.error(`export: ${oneLine(error)}`);
    return 1;
  }
}
