/** The "Sự kiện" / "Events" feed: newest first, critical events pinned on top until acknowledged. */

import { byId, h, setData, setText } from './dom.js';
import { describeEvent } from './event_text.js';
import { formatEventTime, parseTime } from './format.js';
import { t } from './i18n.js';

export const FEED_CAP = 500;
const PIN_HISTORY_MS = 30 * 60 * 1000; // a critical event loaded at start is pinned only if this recent
const ACK_KEY = 'amb.ackedEvents';
const ACK_KEEP = 300;
const NEW_FLASH_MS = 2500;
const SEVERITY_GLYPH = { info: '•', warning: '▲', critical: '‼' };
const FILTERS = {
  all: () => true,
  alerts: (event) => event.severity === 'warning' || event.severity === 'critical',
  journeys: (event) => event.journey_id !== null && event.journey_id !== undefined,
};

function severityOf(event) {
  return event.severity === 'critical' || event.severity === 'warning' ? event.severity : 'info';
}

/** Newest first: by time, then by id (events raised by one fix share a time). */
function newerFirst(a, b) {
  return parseTime(b.at) - parseTime(a.at) || (b.id ?? 0) - (a.id ?? 0);
}

function loadAcknowledged() {
  try {
    const ids = JSON.parse(localStorage.getItem(ACK_KEY) ?? '[]');
    return new Set(Array.isArray(ids) ? ids : []);
  } catch {
    return new Set();
  }
}

export class EventFeed {
  /**
   * `names` gives callSign(vehicleId), hospitalName(id) and journey(id) for the sentences;
   * `onPick(event)` runs when an event is clicked (the map pans to it).
   */
  constructor({ names, onPick }) {
    this.names = names;
    this.onPick = onPick;
    this.root = byId('event-feed');
    this.pinnedList = byId('event-pinned');
    this.list = byId('event-list');
    this.empty = byId('event-empty');
    this.count = byId('event-count');
    this.events = [];
    this.entries = new Map();
    this.acknowledged = loadAcknowledged();
    this.filter = 'all';
    for (const button of document.querySelectorAll('[data-event-filter]')) {
      button.addEventListener('click', () => this.setFilter(button.dataset.eventFilter));
    }
    this.setFilter('all');
  }

  /**
   * Adds events not seen yet (a reload overlaps the live ones). `live` events are pinned when
   * critical; loaded ones only when recent. Returns the events that were new.
   */
  add(events, { live }) {
    const added = [];
    const now = Date.now();
    for (const event of events) {
      if (!event || event.id === undefined || event.id === null || this.entries.has(event.id)) continue;
      const critical = severityOf(event) === 'critical';
      const recent = now - parseTime(event.at) < PIN_HISTORY_MS;
      const pinned = critical && !this.acknowledged.has(event.id) && (live || recent);
      this.insert(event, pinned, live);
      added.push(event);
    }
    this.trim();
    this.refreshCounts();
    return added;
  }

  insert(event, pinned, live) {
    let index = 0;
    while (index < this.events.length && newerFirst(this.events[index], event) < 0) index += 1;
    this.events.splice(index, 0, event);
    const entry = this.render(event);
    this.entries.set(event.id, entry);
    this.place(entry, pinned);
    if (live) {
      entry.item.classList.add('is-new');
      setTimeout(() => entry.item.classList.remove('is-new'), NEW_FLASH_MS);
    }
  }

  render(event) {
    const severity = severityOf(event);
    const entry = {
      event,
      time: h('span', { class: 'event-clock' }),
      date: h('span', { class: 'event-date' }),
      text: h('span', { class: 'event-text' }),
      ack: h('span', { class: 'event-ack' }),
      pinned: false,
    };
    const stamp = h('time', { class: 'event-time', datetime: event.at ?? '' }, entry.date, entry.time);
    entry.button = h(
      'button',
      { type: 'button', class: 'event-row', onclick: () => this.pick(event.id) },
      h('span', { class: 'event-sev', 'aria-hidden': 'true', text: SEVERITY_GLYPH[severity] }),
      stamp,
      entry.text,
      entry.ack,
    );
    const dataset = { eventId: String(event.id), eventKind: String(event.kind ?? ''), severity };
    if (event.vehicle_id != null) dataset.vehicleId = String(event.vehicle_id);
    if (event.journey_id != null) dataset.journeyId = String(event.journey_id);
    entry.item = h('li', { class: 'event-item', dataset }, entry.button);
    this.label(entry);
    return entry;
  }

  /** Puts an entry in the pinned list or at its place in time in the main list. */
  place(entry, pinned) {
    entry.pinned = pinned;
    if (pinned) {
      entry.item.dataset.pinned = '1';
      entry.item.hidden = false;
      const next = this.events
        .slice(this.events.indexOf(entry.event) + 1)
        .map((event) => this.entries.get(event.id))
        .find((other) => other?.pinned);
      this.pinnedList.insertBefore(entry.item, next?.item ?? null);
    } else {
      delete entry.item.dataset.pinned;
      const next = this.events
        .slice(this.events.indexOf(entry.event) + 1)
        .map((event) => this.entries.get(event.id))
        .find((other) => other && !other.pinned);
      this.list.insertBefore(entry.item, next?.item ?? null);
      entry.item.hidden = !FILTERS[this.filter](entry.event);
    }
    this.label(entry);
  }

  label(entry) {
    const { event } = entry;
    const when = formatEventTime(event.at);
    setText(entry.time, when ? when.time : '—');
    setText(entry.date, when?.date ?? '');
    entry.button.title = when ? when.full : '';
    setText(entry.text, describeEvent(event, this.names));
    setText(entry.ack, entry.pinned ? t('feed.ack') : '');
    const located = Number.isFinite(event.lat) && Number.isFinite(event.lon);
    setData(entry.item, 'located', located ? '1' : '0');
  }

  pick(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (entry.pinned) this.acknowledge(id);
    this.onPick(entry.event);
  }

  /** Unpins a critical event: it goes back to its place in time, marked acknowledged. */
  acknowledge(id) {
    const entry = this.entries.get(id);
    if (!entry || !entry.pinned) return;
    this.acknowledged.add(id);
    try {
      localStorage.setItem(ACK_KEY, JSON.stringify([...this.acknowledged].slice(-ACK_KEEP)));
    } catch {
      // Remembered for this page only.
    }
    entry.item.dataset.acknowledged = '1';
    this.place(entry, false);
    this.refreshCounts();
  }

  /** Drops the oldest events beyond the cap (pinned ones stay until acknowledged). */
  trim() {
    for (let index = this.events.length - 1; index >= 0 && this.events.length > FEED_CAP; index -= 1) {
      const entry = this.entries.get(this.events[index].id);
      if (entry?.pinned) continue;
      entry?.item.remove();
      this.entries.delete(this.events[index].id);
      this.events.splice(index, 1);
    }
  }

  setFilter(filter) {
    if (!FILTERS[filter]) return;
    this.filter = filter;
    setData(this.root, 'filter', filter);
    for (const button of document.querySelectorAll('[data-event-filter]')) {
      button.setAttribute('aria-pressed', String(button.dataset.eventFilter === filter));
    }
    for (const entry of this.entries.values()) {
      if (!entry.pinned) entry.item.hidden = !FILTERS[filter](entry.event);
    }
    this.refreshCounts();
  }

  isPinned(id) {
    return Boolean(this.entries.get(id)?.pinned);
  }

  pinnedEvents() {
    return [...this.entries.values()].filter((entry) => entry.pinned).map((entry) => entry.event);
  }

  pinnedCount() {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.pinned) count += 1;
    return count;
  }

  refreshCounts() {
    const pinned = this.pinnedCount();
    setText(this.count, String(this.events.length));
    setData(this.root, 'pinned', String(pinned));
    const shown = [...this.entries.values()].some((entry) => entry.pinned || !entry.item.hidden);
    this.empty.hidden = shown;
    setText(this.empty, this.events.length ? t('feed.noMatch') : t('feed.empty'));
  }

  /** Rewrites every sentence: after a language change, or when names (call signs...) arrive. */
  relabel() {
    for (const entry of this.entries.values()) this.label(entry);
    this.refreshCounts();
  }
}
