/** Loads that must succeed: retried with backoff while the error banner shows; auth failures propagate. */

import { AuthError } from './api.js';
import { byId } from './dom.js';
import { backoffDelay } from './stream.js';

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Loader {
  /** `stopped()` says the page gave up (token refused): retrying stops. */
  constructor({ stopped }) {
    this.stopped = stopped;
    this.failing = new Set();
    this.banner = byId('load-error');
  }

  /** Runs `task` until it succeeds; `label` names it in the console and the failing set. */
  async withRetry(label, task) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const result = await task();
        this.failing.delete(label);
        this.banner.hidden = this.failing.size === 0;
        return result;
      } catch (error) {
        if (error instanceof AuthError || this.stopped()) throw error;
        console.warn(`load ${label} failed`, error);
        this.failing.add(label);
        this.banner.hidden = false;
        await sleep(backoffDelay(attempt));
      }
    }
  }
}
