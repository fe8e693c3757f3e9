// The worker's one progress throttle: milestones always pass, other reports at most once per
// interval, each as a copy (on a hand-driven clock).
import { describe, expect, it } from 'vitest';
import { throttled } from '../../../workers/progress-throttle.ts';

interface Report {
  stage: string;
  done: number;
  total: number;
}

describe('throttled', () => {
  it('passes the first report, milestones, and one other report per interval', () => {
    let time = 0;
    const sent: Report[] = [];
    const report = throttled<Report>((progress) => sent.push(progress), (progress, previous) => progress.stage !== previous?.stage || progress.done >= progress.total, { intervalMs: 100, now: () => time });
    const reused: Report = { stage: 'unzipping', done: 0, total: 3 };
    report(reused); // first: a new stage
    time = 50;
    report({ stage: 'unzipping', done: 1, total: 3 }); // 50 ms after the last sent: held back
    time = 120;
    report({ stage: 'unzipping', done: 2, total: 3 }); // 120 ms: passes
    time = 130;
    report({ stage: 'unzipping', done: 3, total: 3 }); // the stage's last: a milestone
    time = 140;
    report({ stage: 'parsing', done: 0, total: 1 }); // a new stage: a milestone
    reused.done = 99; // the sender reuses its object: what was sent keeps its values
    expect(sent).toEqual([
      { stage: 'unzipping', done: 0, total: 3 },
      { stage: 'unzipping', done: 2, total: 3 },
      { stage: 'unzipping', done: 3, total: 3 },
      { stage: 'parsing', done: 0, total: 1 },
    ]);
  });

  it('does nothing without a receiver', () => {
    expect(() => throttled<Report>(undefined, () => true)({ stage: 'x', done: 0, total: 1 })).not.toThrow();
  });
});
