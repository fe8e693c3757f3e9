// `npm run cli -- dataset <zip-or-folder> [--split test] [--noun currency] [--jsonl]`
// The page's dataset loader, in Node: a readable report, or one Q&A JSON object per image.

import { hasErrors, loadDataset } from '../dataset/load.ts';
import { sourceFromPath } from '../dataset/node-source.ts';
import { formatDatasetReport } from '../dataset/report-text.ts';
import { splitFromFolderName, SPLIT_NAMES } from '../dataset/splits.ts';
import type { QuestionTemplate, SplitName } from '../dataset/types.ts';
import { ArgumentReader, UsageError } from './cli-shared.ts';

export const usage = `usage: npm run cli -- dataset <zip-or-folder-or-json> [options]

Reads a COCO detection dataset (a Roboflow "COCO" export zip, its folder, or one COCO .json with
its images), checks it, and prints a report, or with --jsonl one line per image:
{"split","file","question","answer"}.

  --split <train|val|test>   only this split (valid and validation mean val); a lone json whose name
                             tells no split is read as this split
  --noun <word>              the noun in the question (default "object"; the original guide used "currency")
  --template <text>          the question template, with {noun} and {classes}
  --jsonl                    print the Q&A pairs as JSON lines instead of the report
  --headers-only             check images from their headers only (faster on large photos, but blind
                             to damage inside the pixel data, which training would then meet)
  --help                     this text

Exit code 0 when the dataset is usable, 2 on invalid input or a dataset with errors.`;

interface DatasetArguments {
  path: string;
  split?: SplitName;
  question: Partial<QuestionTemplate>;
  jsonl: boolean;
  headersOnly: boolean;
}

function parseArguments(args: string[]): DatasetArguments | 'help' {
  const parsed: Partial<DatasetArguments> & { question: Partial<QuestionTemplate> } = { question: {}, jsonl: false, headersOnly: false };
  const reader = new ArgumentReader(args);
  const value = (index: number, flag: string) => reader.value(index, flag);
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--jsonl') parsed.jsonl = true;
    else if (arg === '--headers-only') parsed.headersOnly = true;
    else if (arg === '--split') {
      const name = value(index++, arg);
      parsed.split = splitFromFolderName(name);
      if (!parsed.split) throw new UsageError(`--split must be one of ${SPLIT_NAMES.join(', ')} (got "${name}")`);
    } else if (arg === '--noun') parsed.question.noun = value(index++, arg);
    else if (arg === '--template') parsed.question.template = value(index++, arg);
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else if (parsed.path === undefined) parsed.path = arg;
    else throw new UsageError(`one dataset path expected, got "${parsed.path}" and "${arg}"`);
  }
  if (parsed.path === undefined) throw new UsageError('give the dataset: a zip, a folder or a COCO .json');
  return parsed as DatasetArguments;
}

export async function run(args: string[]): Promise<number> {
  let options: DatasetArguments | 'help';
  try {
    options = parseArguments(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`dataset: ${error.message}; see --help.`);
    return 2;
  }
  if (options === 'help') {
    console.log(usage);
    return 0;
  }

  let source;
  try {
    source = await sourceFromPath(options.path);
  } catch (error) {
    console.error(`dataset: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  const dataset = await loadDataset(source, { question: options.question, split: options.split, imageCheck: options.headersOnly ? 'header' : 'decode' });
  const splits = options.split ? [options.split] : SPLIT_NAMES;
  const errors = dataset.issues.filter((issue) => issue.severity === 'error');
  const warnings = dataset.issues.length - errors.length;

  if (!options.jsonl) console.log(formatDatasetReport(dataset, splits));
  if (hasErrors(dataset)) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''}${options.jsonl ? '; run without --jsonl for the full report' : ''})` : '';
    console.error(`dataset: ${errors[0].message}${more}`);
    return 2;
  }
  if (options.jsonl) {
    const lines = dataset.images
      .filter((image) => splits.includes(image.split))
      .map((image) => JSON.stringify({ split: image.split, file: image.fileName, question: image.question, answer: image.answer }));
    if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
    if (warnings > 0) console.error(`dataset: ${warnings} warning(s); run without --jsonl to see them.`);
  }
  return 0;
}
