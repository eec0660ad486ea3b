/**
 * The tablet's outbox of status presses: every press is stored on the tablet first (localStorage),
 * then sent in order. A press that could not be sent at once (offline, server unreachable) stays
 * queued with its original time and is sent when the connection returns, marked `queued`; the
 * server stores a press once whatever how often it is resent (`press_id`). A press the server
 * refuses for good (409 already in that status or closed, 404 not this vehicle's journey, 422) is
 * dropped from the outbox and reported; anything else is retried.
 */

const STORAGE_KEY = 'amb.crew.outbox';
const FINAL = [404, 409, 422];

/** A random UUID (crypto.randomUUID needs a secure context; a tablet on http://<LAN address> has none). */
export function newPressId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Outbox {
  /** `send(press)` resolves when stored, rejects with an error carrying `status` (0: network). */
  constructor(send, { onChange = () => {}, onRefused = () => {} } = {}) {
    this.send = send;
    this.onChange = onChange;
    this.onRefused = onRefused;
    this.items = this.load();
    this.flushing = null;
  }

  load() {
    try {
      const parsed = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  }

  save() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.items));
    } catch {
      // Storage full or disabled: the presses stay in memory for this page's life.
    }
    this.onChange(this.items);
  }

  /** Records a press (its time is now, by the tablet's clock) and tries to send it. */
  press(journeyId, status) {
    const item = {
      journey_id: journeyId,
      status,
      at: new Date().toISOString(),
      press_id: newPressId(),
      queued: !navigator.onLine, // pressed offline: it waits, whatever happens next
    };
    this.items.push(item);
    this.save();
    return this.flush();
  }

  /** Sends what waits, oldest first; stops at the first press that cannot be sent now. */
  flush() {
    if (!this.flushing) {
      this.flushing = this.drain().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  async drain() {
    while (this.items.length) {
      const item = this.items[0];
      try {
        await this.send(item);
      } catch (error) {
        const status = error?.status ?? 0;
        if (FINAL.includes(status)) {
          this.onRefused(item, error);
        } else {
          // Not sent now: from here on it is a queued press, sent later with its original time.
          if (!item.queued) {
            item.queued = true;
            this.save();
          }
          return false;
        }
      }
      this.items.shift();
      this.save();
    }
    return true;
  }
}
