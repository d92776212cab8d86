/**
 * Following a running job: the app-only `job_status` tool answers at once the first time, then waits on the
 * server until the job changes (an image saved or failed, the queue moved, the job finished), so images appear
 * as they are saved without the gallery polling on a timer.
 */
import { Server } from "./server";
import type { JobView } from "./types";

/** How many times in a row a call may fail (or a ticket stay unknown) before the gallery stops following. */
const ATTEMPTS = 3;

export type Target = { job_id: string } | { ticket: string };

export class Follower {
  private stopped = false;

  constructor(
    private readonly server: Server,
    private readonly onUpdate: (view: JobView) => void,
  ) {}

  /** Follows until the job finishes or `stop()`; the last view seen, or null if the job was never found. */
  async follow(target: Target): Promise<JobView | null> {
    let current: Target = target;
    let view: JobView | null = null;
    let misses = 0;
    while (!this.stopped) {
      let next: JobView | null;
      try {
        next = await this.server.jobStatus(current, view?.version ?? -1);
      } catch (error) {
        if (++misses >= ATTEMPTS) throw error;
        await pause(500 * misses);
        continue;
      }
      if (this.stopped) break;
      if (!next) {
        // A ticket the server has not seen (yet): the call is still starting, or the host does not pass it.
        if (++misses >= ATTEMPTS) return view;
        continue;
      }
      misses = 0;
      view = next;
      current = { job_id: next.job_id };
      this.onUpdate(next);
      if (next.finished) return next;
    }
    return view;
  }

  stop(): void {
    this.stopped = true;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
