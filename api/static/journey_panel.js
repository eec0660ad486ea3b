/** The "Hành trình" / "Journeys" tab: open journeys, most urgent first, and the selected one's timeline. */

import { byId, h, setData, setText } from './dom.js';
import { formatCoords, formatCountdown, formatDistance, formatElapsed, formatEventTime, formatShortTime, parseTime } from './format.js';
import { lang, t } from './i18n.js';
import { JOURNEY_TIMESTAMPS } from './journeys.js';
import { headsForIncident, normaliseStatus, setStatusPill, statusLabel, statusPill } from './status.js';

// National target: an ambulance on scene within 8 minutes in cities (by 2030).
export const RESPONSE_TARGET_S = 8 * 60;

/** The destination hospital's name in the current language, or '' without one. */
export function destinationName(journey) {
  const vi = journey.destination_name_vi ?? '';
  const en = journey.destination_name_en ?? '';
  return lang() === 'en' ? en || vi : vi || en;
}

/** Who set a status by hand: 'điều phối viên' / 'kíp xe' ('dispatcher' / 'crew'). */
function sourceLabel(source) {
  const key = `source.${source}`;
  const label = t(key);
  return label === key ? String(source ?? '') : label;
}

function elapsedSeconds(journey, nowMs) {
  const start = parseTime(journey.dispatched_at);
  return Number.isNaN(start) ? null : Math.max(0, (nowMs - start) / 1000);
}

/** '→ hiện trường 4:12 · 2,1 km' for a journey's ETA, or '' without one. */
export function etaText(eta) {
  if (!eta) return '';
  return `${t(`eta.to.${eta.target}`)} ${formatCountdown(eta.seconds)} · ${formatDistance(eta.metres)}`;
}

export class JourneyPanel {
  /**
   * `onSelect(id)` runs when a row is clicked (null to close); `loadDetail(id)` fetches the status
   * log; `etaOf(id)` gives a journey's current ETA; `actions` renders the card's buttons.
   */
  constructor({ onSelect, loadDetail, etaOf = () => null, actions = null }) {
    this.onSelect = onSelect;
    this.etaOf = etaOf;
    this.list = byId('journey-list');
    this.empty = byId('journey-empty');
    this.count = byId('journey-count');
    this.rows = new Map();
    this.journeys = [];
    this.selectedId = null;
    this.detail = new JourneyDetail({ onClose: () => this.onSelect(null), loadDetail, etaOf, actions });
  }

  /** Rebuilds rows from the store's sorted list. */
  sync(journeys) {
    this.journeys = journeys;
    const ids = new Set(journeys.map((journey) => journey.id));
    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.item.remove();
        this.rows.delete(id);
      }
    }
    for (const journey of journeys) {
      const row = this.rows.get(journey.id) ?? this.createRow(journey.id);
      this.list.append(row.item);
      this.update(row, journey);
    }
    this.empty.hidden = journeys.length > 0;
    setText(this.empty, t('journeys.empty'));
    setText(this.count, String(journeys.length));
    setData(this.count, 'urgent', journeys.some((journey) => journey.priority === 1) ? '1' : '0');
    if (this.selectedId !== null) {
      const selected = journeys.find((journey) => journey.id === this.selectedId);
      if (selected) this.detail.show(selected);
      else this.detail.closed(this.selectedId);
    }
    this.tick();
  }

  createRow(id) {
    const row = {
      priority: h('span', { class: 'journey-priority' }),
      callSign: h('span', { class: 'journey-callsign' }),
      status: statusPill('dispatched'),
      elapsed: h('span', { class: 'journey-elapsed' }),
      address: h('span', { class: 'journey-address' }),
      destination: h('span', { class: 'journey-dest' }),
      dispatched: h('span', { class: 'journey-dispatched' }),
      eta: h('span', { class: 'journey-eta' }),
    };
    row.button = h(
      'button',
      { type: 'button', class: 'journey-row', 'aria-pressed': 'false', onclick: () => this.onSelect(id) },
      h('span', { class: 'journey-line1' }, row.priority, row.callSign, row.status),
      row.elapsed,
      row.address,
      row.eta,
      h('span', { class: 'journey-line3' }, row.destination, row.dispatched),
    );
    row.item = h('li', { class: 'journey-item', dataset: { journeyId: String(id) } }, row.button);
    this.rows.set(id, row);
    return row;
  }

  update(row, journey) {
    row.journey = journey;
    const priority = [1, 2, 3].includes(journey.priority) ? journey.priority : 3;
    setData(row.item, 'status', normaliseStatus(journey.status));
    setData(row.item, 'priority', String(priority));
    setData(row.item, 'vehicleId', String(journey.vehicle_id));
    setText(row.priority, `P${priority}`);
    row.priority.title = t(`priority.${priority}`);
    setText(row.callSign, journey.call_sign || journey.plate || `#${journey.vehicle_id}`);
    setStatusPill(row.status, journey.status);
    setText(row.address, journey.incident_address || formatCoords(journey.incident_lat, journey.incident_lon));
    const hospital = destinationName(journey);
    setText(row.destination, hospital ? `→ ${hospital}` : t('journeys.noDestination'));
    setData(row.destination, 'none', hospital ? '0' : '1');
    setText(row.dispatched, t('journeys.dispatchedAt', { time: formatShortTime(journey.dispatched_at) }));
    row.button.setAttribute('aria-label', t('journeys.rowLabel', { c: row.callSign.textContent, s: statusLabel(journey.status) }));
  }

  /** Once a second: elapsed times, and the 8-minute response target while heading for the scene. */
  tick(nowMs = Date.now()) {
    for (const row of this.rows.values()) {
      const journey = row.journey;
      if (!journey) continue;
      const elapsed = elapsedSeconds(journey, nowMs);
      setText(row.elapsed, `T+${formatElapsed(elapsed)}`);
      const late = elapsed !== null && headsForIncident(journey.status) && elapsed > RESPONSE_TARGET_S;
      setData(row.item, 'overdue', late ? '1' : '0');
      row.elapsed.title = t('journeys.elapsedTitle');
      const eta = this.etaOf(journey.id);
      setText(row.eta, etaText(eta));
      setData(row.eta, 'target', eta?.target ?? 'none');
    }
    if (this.selectedId !== null) this.detail.tick(nowMs);
  }

  select(id) {
    const previous = this.rows.get(this.selectedId);
    if (previous) previous.button.setAttribute('aria-pressed', 'false');
    this.selectedId = id;
    const row = this.rows.get(id);
    if (row) {
      row.button.setAttribute('aria-pressed', 'true');
      row.item.scrollIntoView({ block: 'nearest' });
      this.detail.show(row.journey, { reload: true });
    } else {
      this.detail.hide();
    }
  }

  /** The status log of the shown journey may have changed (a status_change named it). */
  refreshDetail(journeyId) {
    if (journeyId === this.selectedId) this.detail.reload();
  }

  relabel() {
    this.sync(this.journeys);
    this.detail.relabel();
  }
}

/** The selected journey's card over the map: incident, destination, NEMSIS timestamps, status log. */
class JourneyDetail {
  constructor({ onClose, loadDetail, etaOf, actions }) {
    this.etaOf = etaOf;
    this.actions = actions;
    this.root = byId('journey-detail');
    this.title = byId('journey-detail-title');
    this.summary = byId('journey-detail-summary');
    this.fields = byId('journey-detail-fields');
    this.timeline = byId('journey-timeline');
    this.log = byId('journey-log');
    this.loadDetail = loadDetail;
    this.journey = null;
    this.statusLog = [];
    this.loading = 0;
    byId('journey-detail-close').addEventListener('click', onClose);
  }

  show(journey, { reload = false } = {}) {
    if (!journey) return;
    const changed = this.journey?.id !== journey.id;
    this.journey = journey;
    this.root.hidden = false;
    this.root.dataset.journeyId = String(journey.id);
    delete this.root.dataset.closed;
    if (changed) this.statusLog = [];
    this.render();
    if (reload || changed) this.reload();
  }

  /** The journey left the open list (completed or cancelled): keep the card, say so. */
  closed(id) {
    if (this.journey?.id !== id || this.root.dataset.closed === '1') return;
    this.root.dataset.closed = '1';
    this.reload();
  }

  async reload() {
    if (!this.journey) return;
    const id = this.journey.id;
    const ticket = ++this.loading;
    try {
      const full = await this.loadDetail(id);
      if (ticket !== this.loading || this.journey?.id !== id) return;
      this.statusLog = Array.isArray(full.status_log) ? full.status_log : [];
      // The detail is fresher than the list for a closed journey.
      if (this.root.dataset.closed === '1') this.journey = full;
      this.render();
    } catch (error) {
      console.warn('journey detail failed', error);
    }
  }

  render() {
    const journey = this.journey;
    if (!journey) return;
    setText(this.title, t('journeys.detailTitle', { c: journey.call_sign || `#${journey.vehicle_id}`, id: journey.id }));
    const priority = [1, 2, 3].includes(journey.priority) ? journey.priority : 3;
    this.elapsed = h('span', { class: 'journey-elapsed' });
    this.eta = h('span', { id: 'journey-detail-eta', class: 'journey-eta' });
    this.summary.replaceChildren(
      statusPill(journey.status),
      h('span', { class: 'journey-priority', dataset: { priority: String(priority) }, text: `P${priority} · ${t(`priority.${priority}`)}` }),
      this.elapsed,
      this.eta,
    );
    const field = (label, value) => h('div', { class: 'detail-row' }, h('dt', { text: label }), h('dd', { text: value || '—' }));
    this.fields.replaceChildren(
      field(t('journeys.incident'), journey.incident_address || ''),
      field(t('journeys.coords'), formatCoords(journey.incident_lat, journey.incident_lon)),
      field(t('journeys.destination'), destinationName(journey) || t('journeys.noDestination')),
      field(t('journeys.note'), journey.note || ''),
      field(t('journeys.createdBy'), journey.created_by || ''),
      field(t('journeys.sceneRadius'), Number.isFinite(journey.scene_radius_m) ? `${Math.round(journey.scene_radius_m)} m` : ''),
    );
    this.renderTimeline(journey);
    this.renderLog();
    this.actions?.show(journey, { closed: this.root.dataset.closed === '1' });
    this.tick();
  }

  renderTimeline(journey) {
    const start = parseTime(journey.dispatched_at);
    const rows = JOURNEY_TIMESTAMPS.filter((key) => journey[key] || !['completed_at', 'cancelled_at'].includes(key)).map((key) => {
      const when = formatEventTime(journey[key]);
      const offset = parseTime(journey[key]) - start;
      const status = key.replace(/_at$/, '');
      return h(
        'tr',
        { dataset: { stamp: key, reached: journey[key] ? '1' : '0', current: status === journey.status ? '1' : '0' } },
        h('th', { scope: 'row', text: t(`stamp.${key}`) }),
        h('td', { class: 'stamp-time', text: when ? `${when.date ? `${when.date} ` : ''}${when.time}` : '—' }),
        h('td', { class: 'stamp-offset', text: Number.isFinite(offset) && journey[key] ? `T+${formatElapsed(offset / 1000)}` : '' }),
      );
    });
    this.timeline.replaceChildren(...rows);
  }

  renderLog() {
    const items = this.statusLog.map((entry) => {
      const when = formatEventTime(entry.at);
      const from = entry.from_status ? `${statusLabel(entry.from_status)} → ` : '';
      const who = entry.source === 'rule' ? t('journeys.byRule', { r: entry.rule ?? '' }) : t('journeys.bySource', { s: sourceLabel(entry.source), p: entry.rule ?? '' });
      return h(
        'li',
        { dataset: { to: String(entry.to_status ?? '') } },
        h('time', { datetime: entry.at ?? '', text: when ? when.time : '—' }),
        h('span', { text: `${from}${statusLabel(entry.to_status)}` }),
        h('span', { class: 'log-source', text: who }),
        // A crew press made offline: its own time, sent later (when it reached the server).
        entry.queued
          ? h('span', { class: 'log-queued', text: t('journeys.queued', { t: formatEventTime(entry.logged_at)?.time ?? '' }) })
          : null,
      );
    });
    this.log.replaceChildren(...items);
    this.log.hidden = items.length === 0;
  }

  tick(nowMs = Date.now()) {
    if (!this.journey || !this.elapsed) return;
    const elapsed = elapsedSeconds(this.journey, nowMs);
    const closed = this.root.dataset.closed === '1';
    setText(this.elapsed, closed ? t('journeys.closed') : `T+${formatElapsed(elapsed)}`);
    const eta = closed ? null : this.etaOf(this.journey.id);
    setText(this.eta, etaText(eta));
    setData(this.eta, 'target', eta?.target ?? 'none');
  }

  hide() {
    this.root.hidden = true;
    this.actions?.hide();
    this.journey = null;
    this.loading += 1;
    delete this.root.dataset.journeyId;
    delete this.root.dataset.closed;
  }

  relabel() {
    if (this.journey) this.render();
  }
}
