/** The board's table: one row per inbound ambulance, readable across an emergency department. */

import { byId, h, setData, setText } from './dom.js';
import { formatAge, formatCountdown, formatDistance, formatShortTime } from './format.js';
import { t } from './i18n.js';
import { freshnessOf } from './fleet.js';
import { normaliseStatus, setStatusPill, statusPill } from './status.js';
import { sceneSecondsLeft, secondsLeft } from './board_store.js';
import { serverNow } from './server_clock.js';

/** "at 10:05 (between 10:03 and 10:08)": the arrival and its p10-p90 window when there is one. */
function arrivalNote(record) {
  if (!record.arrival_at) return '';
  const w = record.arrival_window;
  if (w?.early_at && w?.late_at) {
    return t('board.arrivalWindow', {
      t: formatShortTime(record.arrival_at),
      a: formatShortTime(w.early_at),
      b: formatShortTime(w.late_at),
    });
  }
  return t('board.arrivalAt', { t: formatShortTime(record.arrival_at) });
}

export class InboundList {
  constructor({ offlineAfterS }) {
    this.offlineAfterS = offlineAfterS;
    this.body = byId('inbound-list');
    this.table = byId('inbound-table');
    this.empty = byId('inbound-empty');
    this.summary = byId('board-summary');
    this.rows = new Map();
  }

  /** Redraws every row from `records` (sorted) and `age(record)`; cheap enough to run each second. */
  render(records, age) {
    const nowMs = serverNow();
    const ids = new Set(records.map((r) => r.journey_id));
    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
    for (const record of records) {
      const row = this.rows.get(record.journey_id) ?? this.create(record.journey_id);
      this.body.append(row.tr); // in sorted order
      this.update(row, record, age(record), nowMs);
    }
    this.table.hidden = records.length === 0;
    this.empty.hidden = records.length > 0;
    this.summarise(records, nowMs);
  }

  create(id) {
    const row = {
      callSign: h('span', { class: 'unit-callsign' }),
      priority: h('span', { class: 'journey-priority' }),
      plate: h('span', { class: 'unit-plate' }),
      status: statusPill('dispatched'),
      countdown: h('span', { class: 'eta-countdown' }),
      etaNote: h('span', { class: 'eta-note' }),
      distance: h('td', { class: 'col-num cell-distance' }),
      age: h('td', { class: 'col-num cell-age' }),
    };
    row.tr = h(
      'tr',
      { class: 'inbound-row', dataset: { journeyId: String(id) } },
      h('td', { class: 'cell-unit' }, h('span', { class: 'unit-line' }, row.priority, row.callSign), row.plate),
      h('td', { class: 'cell-status' }, row.status),
      h('td', { class: 'col-eta cell-eta' }, row.countdown, row.etaNote),
      row.distance,
      row.age,
    );
    this.rows.set(id, row);
    return row;
  }

  update(row, record, ageS, nowMs) {
    const priority = [1, 2, 3].includes(record.priority) ? record.priority : 3;
    const status = normaliseStatus(record.status);
    setData(row.tr, 'status', status);
    setData(row.tr, 'priority', String(priority));
    setData(row.tr, 'vehicleId', String(record.vehicle_id));
    setText(row.priority, `P${priority}`);
    row.priority.title = t(`priority.${priority}`);
    setText(row.callSign, record.call_sign || record.plate || `#${record.vehicle_id}`);
    setText(row.plate, record.plate ?? '');
    setStatusPill(row.status, status);

    const left = secondsLeft(record, nowMs);
    const scene = sceneSecondsLeft(record, nowMs);
    let phase = 'hospital';
    if (status === 'at_hospital') {
      phase = 'arrived';
      setText(row.countdown, t('board.arrived'));
      setText(row.etaNote, '');
    } else if (Number.isFinite(left)) {
      setText(row.countdown, formatCountdown(left));
      setText(row.etaNote, arrivalNote(record));
    } else {
      phase = 'scene';
      setText(row.countdown, '—');
      setText(row.etaNote, Number.isFinite(scene) ? t('board.toScene', { t: formatCountdown(scene) }) : t('board.notYet'));
    }
    setData(row.tr, 'phase', phase);
    setData(row.countdown, 'seconds', Number.isFinite(left) ? String(Math.round(left)) : '');
    setData(row.tr, 'soon', Number.isFinite(left) && left <= 120 && phase === 'hospital' ? '1' : '0');
    setText(row.distance, phase === 'hospital' ? formatDistance(record.distance_left_m) : '—');

    const freshness = freshnessOf(ageS, record.heard_age_s, this.offlineAfterS);
    setData(row.tr, 'freshness', freshness);
    setText(row.age, freshness === 'none' ? t('fresh.none') : formatAge(ageS));
    row.age.title = t(`fresh.${freshness}`);
  }

  summarise(records, nowMs) {
    const coming = records.filter((r) => r.status !== 'at_hospital');
    const urgent = records.filter((r) => r.priority === 1).length;
    const next = coming.map((r) => secondsLeft(r, nowMs)).filter(Number.isFinite).sort((a, b) => a - b)[0];
    const parts = [h('span', { class: 'summary-big', text: t('board.count', { n: coming.length }) })];
    if (urgent) parts.push(h('span', { class: 'summary-urgent', text: t('board.urgent', { n: urgent }) }));
    if (Number.isFinite(next)) parts.push(h('span', { text: t('board.next', { t: formatCountdown(next) }) }));
    const arrived = records.length - coming.length;
    if (arrived) parts.push(h('span', { text: t('board.arrivedCount', { n: arrived }) }));
    this.summary.replaceChildren(...parts);
  }
}
