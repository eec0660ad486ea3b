/** The event feed and its alarm tone together: critical events pin, and sound once the audio is armed. */

import { AlarmSound } from './alarm.js';
import { byId } from './dom.js';
import { EventFeed } from './feed.js';

const REPLAY_AFTER_ARM_MS = 600;

export class Alerts {
  /** `names` and `onPick` as for EventFeed; `onSound(state)` reports the audio state. */
  constructor({ names, onPick, onSound }) {
    this.feed = new EventFeed({ names, onPick });
    this.sound = new AlarmSound(byId('sound-hint'), {
      onChange: (state, reason) => {
        onSound(state);
        // Alarms raised before the first click are still unheard: sound them once, unless that
        // first click was the acknowledgement itself.
        if (reason === 'armed') setTimeout(() => this.feed.pinnedCount() && this.sound.play('critical'), REPLAY_AFTER_ARM_MS);
      },
    });
  }

  /** Adds events to the feed; live critical ones sound the alarm (SOS with its own tone). Returns the new ones. */
  add(events, { live }) {
    const added = this.feed.add(events, { live });
    if (live) {
      const critical = added.filter((event) => event.severity === 'critical');
      if (critical.length) this.sound.play(critical.some((event) => event.kind === 'sos') ? 'sos' : 'critical');
    }
    return added;
  }

  get events() {
    return this.feed.events;
  }

  relabel() {
    this.feed.relabel();
  }
}
