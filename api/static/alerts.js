/** The event feed and its alarm tone together: critical events pin, and sound once the audio is armed. */

import { AlarmSound } from './alarm.js';
import { byId } from './dom.js';
import { EventFeed } from './feed.js';

const REPLAY_AFTER_ARM_MS = 600;
const SOS_REMINDER_MS = 30 * 1000; // an SOS nobody acknowledged sounds again

export class Alerts {
  /** `names` and `onPick` as for EventFeed; `onSound(state)` reports the audio state. */
  constructor({ names, onPick, onSound }) {
    this.feed = new EventFeed({ names, onPick });
    this.primed = false;
    this.lastSosAt = 0;
    this.sound = new AlarmSound(byId('sound-hint'), {
      onChange: (state, reason) => {
        onSound(state);
        // Alarms raised before the first click are still unheard: sound them once, unless that
        // first click was the acknowledgement itself.
        if (reason === 'armed') setTimeout(() => this.feed.pinnedCount() && this.sound.play('critical'), REPLAY_AFTER_ARM_MS);
      },
    });
  }

  /**
   * Adds events to the feed and sounds the alarm (SOS with its own tone) for critical ones that
   * got pinned: live ones, or ones that arrive by a reload after a reconnect. The first load at
   * start stays silent (it sounds once the audio is armed). Returns the new events.
   */
  add(events, { live }) {
    const added = this.feed.add(events, { live });
    const pinned = added.filter((event) => this.feed.isPinned(event.id));
    if (pinned.length && (live || this.primed)) this.alarm(pinned);
    if (!live) this.primed = true;
    return added;
  }

  alarm(pinned) {
    const sos = pinned.some((event) => event.kind === 'sos');
    if (this.sound.play(sos ? 'sos' : 'critical') && sos) this.lastSosAt = Date.now();
  }

  /** Once a second: an SOS still pinned sounds again every 30 s. */
  tick(nowMs) {
    if (nowMs - this.lastSosAt < SOS_REMINDER_MS) return;
    const sos = this.feed.pinnedEvents().filter((event) => event.kind === 'sos');
    if (sos.length && this.sound.armed) this.alarm(sos);
  }

  get events() {
    return this.feed.events;
  }

  relabel() {
    this.feed.relabel();
  }
}
