// The setup the page opened with (its URL, setup-url.ts) and the setup it has now, for the
// "link to this setup" button. Components read the link's choices as their starting values and
// write what the person chose since; the dataset's question lives in the dataset store.
import type { TrainingSettings } from '../train/config.ts';
import type { AnswerDecoding } from '../train/session-types.ts';
import { originNeedsConsent, setupFromSearch, type ModelChoice, type PageSetup } from './setup-url.ts';

class SetupStore {
  /** What the page's URL asked for. */
  readonly link: PageSetup;
  /** What in the URL could not be used, one sentence each. */
  readonly problems: string[];
  /** The person's answer to a link's hub mirror: undefined until they click. */
  originConsent = $state<'accepted' | 'declined' | undefined>();

  model = $state.raw<ModelChoice | undefined>();
  settings = $state.raw<TrainingSettings | undefined>();
  decoding = $state<AnswerDecoding>('free');

  constructor(search: string) {
    const { setup, problems } = setupFromSearch(search);
    this.link = setup;
    this.problems = problems;
    this.decoding = setup.decoding ?? 'free';
  }

  /** Whether the link names a hub mirror the person has not yet accepted or declined. */
  get originPending(): boolean {
    return originNeedsConsent(this.link.hubOrigin) && this.originConsent === undefined;
  }

  /** Where hub models load from: the link's origin once accepted (or if it is the hub), else the hub. */
  get hubOrigin(): string | undefined {
    const origin = this.link.hubOrigin;
    if (origin === undefined) return undefined;
    return !originNeedsConsent(origin) || this.originConsent === 'accepted' ? origin : undefined;
  }
}

export const setupStore = new SetupStore(typeof window === 'undefined' ? '' : window.location.search);
