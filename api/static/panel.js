/** The "Đội xe" / "Fleet" tab: summary counts, filterable vehicle list and the selected vehicle's details. */

import { byId, h, setData, setText } from './dom.js';
import { formatAge, formatCoords, formatDateTime, formatHeading, formatQuantity, formatSpeed } from './format.js';
import { t } from './i18n.js';
import { UNIT_STATUSES, normaliseStatus, setStatusPill, statusLabel, statusPill } from './status.js';

const SUMMARY_ORDER = ['fresh', 'stale', 'nofix', 'offline', 'none'];

function kindLabel(kind) {
  const key = `kind.${kind}`;
  const label = t(key);
  return label === key ? kind || '—' : label;
}

function matches(vehicle, query) {
  if (!query) return true;
  const haystack = `${vehicle.call_sign ?? ''} ${vehicle.plate ?? ''} ${vehicle.device_id ?? ''}`.toLowerCase();
  return haystack.includes(query);
}

export class FleetPanel {
  /**
   * `onSelect(id)` runs when a row is clicked; `onFit()` for the "show all" button;
   * `onJourney(id)` when the detail card's journey button is clicked.
   */
  constructor({ onSelect, onFit, onJourney, detailExtra = null }) {
    this.onSelect = onSelect;
    this.list = byId('fleet-list');
    this.count = byId('fleet-count');
    this.summary = byId('fleet-summary');
    this.empty = byId('fleet-empty');
    this.filter = byId('fleet-filter');
    this.detail = new VehicleDetail(() => this.onSelect(null), onJourney, detailExtra);
    this.rows = new Map();
    this.selectedId = null;
    this.query = '';
    this.statusFilter = null;
    this.statusSummary = byId('status-summary');
    this.statusChips = new Map(
      UNIT_STATUSES.map((status) => {
        const value = h('span', { class: 'chip-value', text: '0' });
        const label = h('span', { class: 'chip-label' });
        const chip = h(
          'button',
          { type: 'button', class: 'chip status-chip', 'aria-pressed': 'false', dataset: { status }, onclick: () => this.toggleStatusFilter(status) },
          h('span', { class: 'dot' }),
          value,
          label,
        );
        this.statusSummary.append(chip);
        return [status, { chip, value, label }];
      }),
    );
    this.summaryChips = new Map(
      SUMMARY_ORDER.map((freshness) => {
        const value = h('span', { class: 'chip-value', text: '0' });
        const label = h('span', { class: 'chip-label' });
        const chip = h('span', { class: 'chip', dataset: { freshness } }, h('span', { class: 'dot' }), value, label);
        this.summary.append(chip);
        return [freshness, { chip, value, label }];
      }),
    );
    this.filter.addEventListener('input', () => {
      this.query = this.filter.value.trim().toLowerCase();
      this.applyFilter();
    });
    byId('fit-fleet').addEventListener('click', onFit);
  }

  /** Rebuilds the row set and order from the store (after a snapshot or a fleet refetch). */
  syncAll(vehicles) {
    const ids = new Set(vehicles.map((vehicle) => vehicle.id));
    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.item.remove();
        this.rows.delete(id);
      }
    }
    for (const vehicle of vehicles) {
      const row = this.rows.get(vehicle.id) ?? this.createRow(vehicle.id);
      this.list.append(row.item); // appending in sorted order also reorders existing rows
      this.updateVehicle(vehicle);
    }
    if (this.selectedId !== null && !ids.has(this.selectedId)) this.onSelect(null);
    this.applyFilter();
  }

  createRow(id) {
    const row = {
      status: h('span', { class: 'row-status', 'aria-hidden': 'true' }),
      callSign: h('span', { class: 'row-callsign' }),
      plate: h('span', { class: 'row-plate' }),
      speed: h('span', { class: 'row-speed' }),
      age: h('span', { class: 'row-age' }),
      badge: h('span', { class: 'row-badge' }),
      duty: statusPill('available'),
    };
    row.button = h(
      'button',
      {
        type: 'button',
        class: 'fleet-row',
        'aria-pressed': 'false',
        dataset: { vehicleId: String(id) },
        onclick: () => this.onSelect(id),
      },
      row.status,
      row.callSign,
      row.speed,
      h('span', { class: 'row-sub' }, row.duty, row.plate, row.badge),
      row.age,
    );
    row.item = h('li', { dataset: { vehicleId: String(id) } }, row.button);
    this.rows.set(id, row);
    return row;
  }

  /** Refreshes a row's identity and speed (after a fix or a list update). */
  updateVehicle(vehicle) {
    const row = this.rows.get(vehicle.id);
    if (!row) return;
    row.vehicle = vehicle;
    const name = vehicle.call_sign || vehicle.plate || String(vehicle.id);
    setText(row.callSign, name);
    setText(row.plate, vehicle.plate ?? '');
    setText(row.speed, formatSpeed(vehicle.position?.speed_kmh));
    const status = normaliseStatus(vehicle.status);
    setData(row.item, 'status', status);
    setData(row.button, 'status', status);
    setStatusPill(row.duty, status);
    row.button.setAttribute('aria-label', t('fleet.showOnMap', { c: `${name}, ${statusLabel(status)}` }));
    if (vehicle.id === this.selectedId) this.detail.show(vehicle);
  }

  /** Once a second: ages, freshness and the summary. `view(id)` gives { age, freshness }. */
  tick(view) {
    const counts = { fresh: 0, stale: 0, nofix: 0, offline: 0, none: 0 };
    for (const [id, row] of this.rows) {
      const { age, freshness } = view(id);
      counts[freshness] += 1;
      setText(row.age, freshness === 'none' ? t('fresh.none') : formatAge(age));
      setData(row.button, 'freshness', freshness);
      setText(row.badge, freshness === 'offline' || freshness === 'nofix' ? t(`fresh.${freshness}`) : '');
      if (id === this.selectedId && row.vehicle) this.detail.update(row.vehicle, age, freshness);
    }
    for (const [freshness, { chip, value, label }] of this.summaryChips) {
      setText(value, String(counts[freshness]));
      setText(label, t(`fresh.${freshness}`));
      // Only live vehicles are always counted; the other chips show when they count something.
      chip.hidden = freshness !== 'fresh' && counts[freshness] === 0;
    }
    this.summariseStatuses();
    setText(this.count, String(this.rows.size));
  }

  /** Counts by status; a chip filters the list to that status (again to clear). */
  summariseStatuses() {
    const counts = new Map(UNIT_STATUSES.map((status) => [status, 0]));
    for (const row of this.rows.values()) {
      const status = normaliseStatus(row.vehicle?.status);
      if (counts.has(status)) counts.set(status, counts.get(status) + 1);
    }
    for (const [status, { chip, value, label }] of this.statusChips) {
      setText(value, String(counts.get(status)));
      setText(label, statusLabel(status));
      chip.hidden = counts.get(status) === 0 && status !== 'available' && this.statusFilter !== status;
      chip.setAttribute('aria-pressed', String(this.statusFilter === status));
    }
  }

  toggleStatusFilter(status) {
    this.statusFilter = this.statusFilter === status ? null : status;
    this.summariseStatuses();
    this.applyFilter();
  }

  /** Marks one row as selected (null clears); `scroll` brings it into view, e.g. after a map click. */
  select(id, { scroll = false } = {}) {
    const previous = this.rows.get(this.selectedId);
    if (previous) previous.button.setAttribute('aria-pressed', 'false');
    this.selectedId = id;
    const row = this.rows.get(id);
    if (row) {
      row.button.setAttribute('aria-pressed', 'true');
      if (scroll) row.item.scrollIntoView({ block: 'nearest' });
      this.detail.show(row.vehicle);
    } else {
      this.detail.hide();
    }
  }

  applyFilter() {
    let visible = 0;
    for (const row of this.rows.values()) {
      const shown = row.vehicle
        ? matches(row.vehicle, this.query) && (!this.statusFilter || normaliseStatus(row.vehicle.status) === this.statusFilter)
        : true;
      row.item.hidden = !shown;
      if (shown) visible += 1;
    }
    this.empty.hidden = visible > 0;
    setText(this.empty, this.rows.size ? t('fleet.noMatch') : t('fleet.empty'));
  }

  /** Re-translates dynamic text after a language change. */
  relabel(view) {
    for (const row of this.rows.values()) if (row.vehicle) this.updateVehicle(row.vehicle);
    this.applyFilter();
    this.tick(view);
  }
}

/** The details card of the selected vehicle at the bottom of the panel. */
class VehicleDetail {
  /** `extra` (optional): { root, show(vehicle) }, placed under the fields (the crew's QR code). */
  constructor(onClose, onJourney, extra = null) {
    this.root = byId('vehicle-detail');
    this.extra = extra;
    if (extra) this.root.append(extra.root);
    this.title = byId('detail-callsign');
    this.fields = new Map();
    const list = byId('detail-fields');
    const keys = ['duty', 'journey', 'status', 'speed', 'heading', 'lastSeen', 'fixTime', 'receivedAt', 'plate', 'kind', 'device', 'accuracy', 'satellites', 'coords'];
    for (const key of keys) {
      const value = h('dd', { dataset: { field: key } });
      list.append(h('div', { class: 'detail-row' }, h('dt', { 'data-i18n': `detail.${key}`, text: t(`detail.${key}`) }), value));
      this.fields.set(key, value);
    }
    byId('detail-close').addEventListener('click', onClose);
    this.dutyPill = statusPill('available');
    this.fields.get('duty').replaceChildren(this.dutyPill);
    this.journeyButton = h('button', { type: 'button', class: 'link-button', id: 'detail-journey' });
    this.journeyButton.addEventListener('click', () => {
      const id = Number(this.journeyButton.dataset.journeyId);
      if (Number.isFinite(id)) onJourney(id);
    });
  }

  show(vehicle) {
    if (!vehicle) return;
    this.root.hidden = false;
    this.root.dataset.vehicleId = String(vehicle.id);
    setText(this.title, vehicle.call_sign || vehicle.plate || String(vehicle.id));
    this.extra?.show(vehicle);
    const position = vehicle.position ?? {};
    setStatusPill(this.dutyPill, vehicle.status);
    if (vehicle.journey_id !== null && vehicle.journey_id !== undefined) {
      this.journeyButton.dataset.journeyId = String(vehicle.journey_id);
      setText(this.journeyButton, t('detail.openJourney', { id: vehicle.journey_id }));
      this.fields.get('journey').replaceChildren(this.journeyButton);
    } else {
      this.set('journey', '—');
    }
    this.set('plate', vehicle.plate || '—');
    this.set('kind', kindLabel(vehicle.kind));
    this.set('device', vehicle.device_id || '—');
    this.set('speed', formatSpeed(position.speed_kmh));
    this.set('heading', formatHeading(position.heading));
    this.set('fixTime', formatDateTime(position.time));
    this.set('receivedAt', formatDateTime(position.received_at));
    this.set('accuracy', formatQuantity(position.accuracy_m, ' m'));
    this.set('satellites', formatQuantity(position.satellites, ''));
    this.set('coords', formatCoords(position.lat, position.lon));
  }

  update(vehicle, age, freshness) {
    this.show(vehicle);
    this.set('status', t(`fresh.${freshness}`));
    this.fields.get('status').dataset.freshness = freshness;
    this.set('lastSeen', freshness === 'none' ? '—' : formatAge(age));
  }

  set(key, text) {
    setText(this.fields.get(key), text);
  }

  hide() {
    this.root.hidden = true;
    delete this.root.dataset.vehicleId;
  }
}
