/** The "Đã kết thúc" / "Closed" list of the journeys tab: recent completed and cancelled journeys, to replay. */

import { AuthError } from './api.js';
import { byId, h, setData, setText } from './dom.js';
import { formatCoords, formatElapsed, formatShortTime, parseTime } from './format.js';
import { addStrings, t } from './i18n.js';
import { statusPill } from './status.js';

addStrings({
  vi: {
    'history.scope': 'Hiển thị',
    'history.open': 'Đang mở',
    'history.closed': 'Đã kết thúc',
    'history.empty': 'Chưa có hành trình nào kết thúc.',
    'history.loading': 'Đang tải…',
    'history.failed': 'Không tải được danh sách.',
    'history.duration': 'kéo dài {d}',
    'history.rowLabel': 'Xem lại hành trình #{id} của {c}',
  },
  en: {
    'history.scope': 'Show',
    'history.open': 'Open',
    'history.closed': 'Closed',
    'history.empty': 'No closed journeys yet.',
    'history.loading': 'Loading…',
    'history.failed': 'Could not load the list.',
    'history.duration': 'lasted {d}',
    'history.rowLabel': 'Replay journey #{id} of {c}',
  },
});

const LIMIT = 60;
const RELOAD_MIN_MS = 10 * 1000;

export class JourneyHistory {
  /** `onReplay(journey)` when a row is clicked; `onAuthError()` when the session is gone. */
  constructor({ client, onReplay, onAuthError }) {
    this.client = client;
    this.onReplay = onReplay;
    this.onAuthError = onAuthError;
    this.list = byId('journey-history');
    this.empty = byId('journey-history-empty');
    this.openList = byId('journey-list');
    this.openEmpty = byId('journey-empty');
    this.buttons = [...document.querySelectorAll('[data-journey-scope]')];
    for (const button of this.buttons) button.addEventListener('click', () => this.setScope(button.dataset.journeyScope));
    this.scope = 'open';
    this.journeys = [];
    this.loadedAt = 0;
    this.state = 'idle';
  }

  /** 'open' shows the live list, 'closed' this one (loaded when shown). */
  setScope(scope) {
    this.scope = scope;
    for (const button of this.buttons) button.setAttribute('aria-pressed', String(button.dataset.journeyScope === scope));
    const closed = scope === 'closed';
    this.list.hidden = !closed;
    this.openList.hidden = closed;
    setData(this.openEmpty, 'scopeHidden', closed ? '1' : '0');
    if (closed) this.empty.hidden = this.journeys.length > 0 && this.state === 'ready';
    else this.empty.hidden = true;
    if (closed && Date.now() - this.loadedAt > RELOAD_MIN_MS) this.load();
    this.render();
  }

  async load() {
    this.state = 'loading';
    this.render();
    try {
      const journeys = await this.client.recentJourneys(LIMIT);
      this.journeys = journeys.filter((journey) => journey.open === false);
      this.loadedAt = Date.now();
      this.state = 'ready';
    } catch (error) {
      if (error instanceof AuthError) this.onAuthError();
      this.state = 'error';
    }
    this.render();
  }

  render() {
    if (this.scope !== 'closed') return;
    const rows = this.journeys.map((journey) => {
      const end = journey.completed_at || journey.cancelled_at;
      const lasted = (parseTime(end) - parseTime(journey.dispatched_at)) / 1000;
      const callSign = journey.call_sign || `#${journey.vehicle_id}`;
      const button = h(
        'button',
        { type: 'button', class: 'journey-row history-row', 'aria-label': t('history.rowLabel', { id: journey.id, c: callSign }), onclick: () => this.onReplay(journey) },
        h('span', { class: 'journey-line1' }, h('span', { class: 'journey-priority', text: `P${journey.priority ?? '?'}` }), h('span', { class: 'journey-callsign', text: callSign }), statusPill(journey.status)),
        h('span', { class: 'journey-elapsed history-replay', 'aria-hidden': 'true', text: '▶' }),
        h('span', { class: 'journey-address', text: journey.incident_address || formatCoords(journey.incident_lat, journey.incident_lon) }),
        h(
          'span',
          { class: 'journey-line3' },
          h('span', { text: `#${journey.id} · ${formatShortTime(journey.dispatched_at)} → ${formatShortTime(end)}` }),
          h('span', { text: Number.isFinite(lasted) ? t('history.duration', { d: formatElapsed(lasted) }) : '' }),
        ),
      );
      return h('li', { class: 'journey-item', dataset: { journeyId: String(journey.id), status: journey.status, priority: String(journey.priority ?? 3) } }, button);
    });
    this.list.replaceChildren(...rows);
    const message = this.state === 'loading' && !rows.length ? 'history.loading' : this.state === 'error' ? 'history.failed' : rows.length ? '' : 'history.empty';
    this.empty.hidden = !message;
    setText(this.empty, message ? t(message) : '');
  }

  relabel() {
    this.render();
  }
}
