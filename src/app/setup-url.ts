// The page's setup as URL parameters, so a link reproduces it: the question (template and noun),
// the model (the demo, or a hub repository@revision, and a hub mirror's origin), the training
// settings and the decoding mode. The dataset stays on the person's machine; the page asks for
// it. Parsing never throws: a value that cannot be used is left out and named in `problems`.
//
// A link must not send the page to another host unnoticed: `hub-origin` is returned as asked,
// and the page shows it and waits for a click before loading from anywhere but the hub.
import type { QuestionTemplate } from '../dataset/types.ts';
import type { TrainingSettings } from '../train/config.ts';
import type { AnswerDecoding } from '../train/session-types.ts';

export const HUGGING_FACE_ORIGIN = 'https://huggingface.co';

export type ModelChoice = { kind: 'demo' } | { kind: 'hub'; repo: string; revision: string };

export interface PageSetup {
  question?: Partial<QuestionTemplate>;
  model?: ModelChoice;
  /** A hub mirror with the hub's URL layout (as the link asks; the page asks before using it). */
  hubOrigin?: string;
  training?: Partial<TrainingSettings>;
  decoding?: AnswerDecoding;
}

type NumberField = 'learningRate' | 'epochs' | 'batchSize' | 'gradientAccumulation' | 'loraRank' | 'loraAlpha' | 'trainLimit' | 'evalMaxTokens';

/** Parameter name → setting, for the numeric settings (whole numbers except lr and alpha). */
const NUMBER_PARAMETERS: readonly [string, NumberField, 'whole' | 'positive'][] = [
  ['lr', 'learningRate', 'positive'],
  ['epochs', 'epochs', 'whole'],
  ['batch', 'batchSize', 'whole'],
  ['accumulation', 'gradientAccumulation', 'whole'],
  ['rank', 'loraRank', 'whole'],
  ['alpha', 'loraAlpha', 'positive'],
  ['train-images', 'trainLimit', 'whole'],
  ['answer-tokens', 'evalMaxTokens', 'whole'],
];

const HUB_MODEL = /^([\w.-]+\/[\w.-]+)@([\w./-]+)$/;

/** "owner/name@revision" → the hub choice, or undefined. */
export function parseHubModel(text: string): { repo: string; revision: string } | undefined {
  const match = HUB_MODEL.exec(text.trim());
  return match ? { repo: match[1], revision: match[2] } : undefined;
}

export function setupFromSearch(search: string): { setup: PageSetup; problems: string[] } {
  const params = new URLSearchParams(search);
  const setup: PageSetup = {};
  const problems: string[] = [];

  const noun = params.get('noun');
  const template = params.get('question');
  if (noun !== null || template !== null) {
    setup.question = {};
    if (noun !== null) {
      if (noun.trim()) setup.question.noun = noun.trim();
      else problems.push('The link\'s noun is empty; the dataset\'s noun is kept.');
    }
    if (template !== null) {
      if (template.includes('{classes}')) setup.question.template = template;
      else problems.push('The link\'s question has no {classes} placeholder, so it could not name the classes; the default question is kept.');
    }
  }

  const model = params.get('model');
  if (model !== null) {
    const hub = parseHubModel(model);
    if (model === 'demo') setup.model = { kind: 'demo' };
    else if (hub) setup.model = { kind: 'hub', ...hub };
    else problems.push(`The link's model "${model}" is neither demo nor owner/name@revision; pick the model below.`);
  }
  const origin = params.get('hub-origin');
  if (origin !== null) {
    try {
      const url = new URL(origin);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http');
      setup.hubOrigin = url.origin;
    } catch {
      problems.push(`The link's hub-origin "${origin}" is not a web address; the Hugging Face hub is used.`);
    }
  }

  const training: Partial<TrainingSettings> = {};
  for (const [name, field, kind] of NUMBER_PARAMETERS) {
    const text = params.get(name);
    if (text === null) continue;
    const value = Number(text);
    const ok = text.trim() !== '' && Number.isFinite(value) && value > 0 && (kind === 'positive' || Number.isInteger(value));
    if (ok) training[field] = value;
    else problems.push(`The link's ${name}=${text} is not a ${kind === 'whole' ? 'whole number ≥ 1' : 'positive number'}; the default is kept.`);
  }
  const full = params.get('full');
  if (full !== null) {
    if (full === '1' || full === '0') training.fullFineTune = full === '1';
    else problems.push(`The link's full=${full} should be 1 (full fine-tuning) or 0 (LoRA); the default is kept.`);
  }
  if (Object.keys(training).length > 0) setup.training = training;

  const decoding = params.get('decoding');
  if (decoding !== null) {
    if (decoding === 'free' || decoding === 'counts') setup.decoding = decoding;
    else problems.push(`The link's decoding=${decoding} should be free or counts; free is used.`);
  }
  return { setup, problems };
}

/** The query string (with its '?', or '' for nothing) that setupFromSearch reads back as `setup`. */
export function searchOfSetup(setup: PageSetup): string {
  const params = new URLSearchParams();
  if (setup.question?.template !== undefined) params.set('question', setup.question.template);
  if (setup.question?.noun !== undefined) params.set('noun', setup.question.noun);
  if (setup.model) params.set('model', setup.model.kind === 'demo' ? 'demo' : `${setup.model.repo}@${setup.model.revision}`);
  if (setup.hubOrigin !== undefined) params.set('hub-origin', setup.hubOrigin);
  const training = setup.training ?? {};
  if (training.fullFineTune !== undefined) params.set('full', training.fullFineTune ? '1' : '0');
  for (const [name, field] of NUMBER_PARAMETERS) {
    const value = training[field];
    if (value !== undefined && value !== null) params.set(name, String(value));
  }
  if (setup.decoding !== undefined) params.set('decoding', setup.decoding);
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Whether loading from this origin needs the person's consent (anything but the hub itself). */
export function originNeedsConsent(origin: string | undefined): boolean {
  return origin !== undefined && origin !== HUGGING_FACE_ORIGIN;
}
