// Progress reports cross a thread (postMessage); a few per second are plenty for a progress bar.
// One throttle for every stream of reports the worker forwards (dataset loading, model loading):
// milestones (a new stage or file, the last report of one) always pass, the rest at most once per
// interval.

export const PROGRESS_INTERVAL_MS = 100;

/**
 * Wraps `send` so it sees every milestone and at most one other report per interval. Each report
 * is copied, so the sender may reuse its object.
 */
export function throttled<T extends object>(
  send: ((progress: T) => void) | undefined,
  isMilestone: (progress: T, previous: T | undefined) => boolean,
  options: { intervalMs?: number; now?: () => number } = {},
): (progress: T) => void {
  const intervalMs = options.intervalMs ?? PROGRESS_INTERVAL_MS;
  const now = options.now ?? (() => performance.now());
  let lastSent = -Infinity;
  let previous: T | undefined;
  return (progress) => {
    if (!send) return;
    const time = now();
    const milestone = isMilestone(progress, previous);
    previous = progress;
    if (!milestone && time - lastSent < intervalMs) return;
    lastSent = time;
    void send({ ...progress });
  };
}
