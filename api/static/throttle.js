/** A task run at most once per interval, however often it is asked for; no request is lost. */

export class ThrottledTask {
  /** `task()` may be async; `minIntervalMs` separates the starts of two runs. */
  constructor(task, minIntervalMs) {
    this.task = task;
    this.minIntervalMs = minIntervalMs;
    this.lastAt = 0;
    this.timer = 0;
    this.running = false;
    this.again = false;
  }

  /** Asks for a run: now if the interval has passed, else at its end; once for many asks. */
  request() {
    if (this.running) {
      // Asked while running: the data may have changed after the fetch started, so run again.
      this.again = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.lastAt + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => this.run(), wait);
  }

  async run() {
    this.timer = 0;
    this.running = true;
    this.again = false;
    this.lastAt = Date.now();
    try {
      await this.task();
    } catch (error) {
      console.warn('throttled task failed', error);
    } finally {
      this.running = false;
      if (this.again) this.request();
    }
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.again = false;
  }
}
