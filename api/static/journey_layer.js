/** Journeys on the map: the incident, a faint scene circle, and a dashed line from the vehicle to where it heads. */

import { h, setData, uiScale } from './dom.js';
import { t } from './i18n.js';
import { destinationName } from './journey_panel.js';
import { headsForIncident, normaliseStatus, statusLabel } from './status.js';

const L = window.L;

// Constant markup (no data): a warning diamond with an exclamation mark.
export const INCIDENT_HTML =
  '<svg class="incident-glyph" viewBox="-20 -20 40 40" aria-hidden="true">' +
  '<path class="incident-diamond" d="M0,-17 L17,0 L0,17 L-17,0 Z"></path>' +
  '<path class="incident-mark" d="M-2.2,-9 h4.4 l-0.9,11 h-2.6 Z M0,5 a2.4,2.4 0 1,0 0.01,0 Z"></path>' +
  '</svg>';

export class JourneyLayer {
  /**
   * `vehicle(id)` gives the vehicle record (its position), `hospital(id)` the hospital record;
   * `onSelect(journeyId)` runs when an incident marker is clicked.
   */
  constructor(map, { vehicle, hospital, onSelect, routed = () => false }) {
    this.map = map;
    this.routed = routed;
    this.vehicle = vehicle;
    this.hospital = hospital;
    this.onSelect = onSelect;
    this.group = L.layerGroup().addTo(map);
    this.entries = new Map();
    this.selectedId = null;
  }

  /** Draws exactly these journeys. */
  sync(journeys) {
    const ids = new Set(journeys.map((journey) => journey.id));
    for (const id of [...this.entries.keys()]) if (!ids.has(id)) this.remove(id);
    for (const journey of journeys) this.draw(journey);
  }

  draw(journey) {
    if (!Number.isFinite(journey.incident_lat) || !Number.isFinite(journey.incident_lon)) {
      this.remove(journey.id);
      return;
    }
    const incident = L.latLng(journey.incident_lat, journey.incident_lon);
    let entry = this.entries.get(journey.id);
    if (!entry) entry = this.create(journey, incident);
    entry.journey = journey;
    entry.marker.setLatLng(incident);
    entry.circle.setLatLng(incident);
    entry.circle.setRadius(Number.isFinite(journey.scene_radius_m) ? journey.scene_radius_m : 150);
    this.decorate(entry);
    this.updateLine(entry);
  }

  /** Data attributes for styling and tests (again after the layer control re-adds the marker). */
  decorate(entry) {
    const { journey } = entry;
    const status = normaliseStatus(journey.status);
    const priority = String([1, 2, 3].includes(journey.priority) ? journey.priority : 3);
    for (const element of [entry.marker.getElement(), entry.circle.getElement(), entry.line.getElement()]) {
      if (!element) continue;
      setData(element, 'journeyId', String(journey.id));
      setData(element, 'status', status);
      setData(element, 'priority', priority);
    }
    this.markSelected(entry);
  }

  create(journey, incident) {
    const size = Math.round(34 * uiScale());
    const icon = L.divIcon({ className: 'incident-icon', html: INCIDENT_HTML, iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
    const marker = L.marker(incident, { icon, pane: 'incidents', keyboard: false, riseOnHover: true });
    marker.bindTooltip(() => this.tooltip(this.entries.get(journey.id)?.journey ?? journey), {
      direction: 'top',
      offset: [0, -size / 2],
      className: 'incident-tip',
    });
    marker.on('click', () => this.onSelect(journey.id));
    marker.on('add', () => {
      const current = this.entries.get(journey.id);
      if (current) this.decorate(current);
    });
    const circle = L.circle(incident, { pane: 'journeys', className: 'scene-circle', radius: 150, interactive: false });
    const line = L.polyline([], { pane: 'journeys', className: 'journey-line', interactive: false, dashArray: '10 8' });
    const entry = { journey, marker, circle, line };
    this.entries.set(journey.id, entry);
    circle.addTo(this.group);
    line.addTo(this.group);
    marker.addTo(this.group);
    return entry;
  }

  tooltip(journey) {
    const hospital = destinationName(journey);
    return h(
      'div',
      {},
      h('strong', { text: `${t('journeys.scene')} — ${journey.call_sign || `#${journey.vehicle_id}`}` }),
      journey.incident_address ? h('div', { text: journey.incident_address }) : null,
      h('div', { text: `${statusLabel(journey.status)} · P${journey.priority ?? '?'}` }),
      hospital ? h('div', { text: `→ ${hospital}` }) : null,
    );
  }

  /**
   * Vehicle -> incident before it reaches the scene, vehicle -> hospital after; none when
   * returning, nor where the road route is drawn instead.
   */
  updateLine(entry) {
    const { journey } = entry;
    const position = this.vehicle(journey.vehicle_id)?.position;
    let target = null;
    if (this.routed(journey.id)) {
      target = null;
    } else if (headsForIncident(journey.status)) {
      target = entry.marker.getLatLng();
    } else if (['on_scene', 'transporting', 'at_hospital'].includes(journey.status)) {
      const hospital = this.hospital(journey.destination_hospital_id);
      if (hospital && Number.isFinite(hospital.lat) && Number.isFinite(hospital.lon)) target = L.latLng(hospital.lat, hospital.lon);
    }
    const from = position && Number.isFinite(position.lat) && Number.isFinite(position.lon) ? L.latLng(position.lat, position.lon) : null;
    entry.line.setLatLngs(from && target ? [from, target] : []);
    const element = entry.line.getElement();
    if (element) {
      const kind = headsForIncident(journey.status) ? 'incident' : 'hospital';
      setData(element, 'target', this.routed(journey.id) ? 'routed' : target ? kind : 'none');
    }
  }

  /** A vehicle moved: its journey line follows. */
  vehicleMoved(vehicleId) {
    for (const entry of this.entries.values()) if (entry.journey.vehicle_id === vehicleId) this.updateLine(entry);
  }

  refreshLines() {
    for (const entry of this.entries.values()) this.updateLine(entry);
  }

  remove(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.marker.remove();
    entry.circle.remove();
    entry.line.remove();
    this.entries.delete(id);
  }

  select(id) {
    this.selectedId = id;
    for (const entry of this.entries.values()) this.markSelected(entry);
  }

  markSelected(entry) {
    const selected = entry.journey.id === this.selectedId;
    entry.marker.getElement()?.classList.toggle('is-selected', selected);
    entry.line.getElement()?.classList.toggle('is-selected', selected);
    entry.marker.setZIndexOffset(selected ? 1000 : 0);
  }

  /** The map view that shows a journey: vehicle, incident and destination hospital. */
  bounds(id) {
    const entry = this.entries.get(id);
    if (!entry) return null;
    const points = [entry.marker.getLatLng()];
    const position = this.vehicle(entry.journey.vehicle_id)?.position;
    if (position && Number.isFinite(position.lat)) points.push(L.latLng(position.lat, position.lon));
    const hospital = this.hospital(entry.journey.destination_hospital_id);
    if (hospital && Number.isFinite(hospital.lat)) points.push(L.latLng(hospital.lat, hospital.lon));
    return L.latLngBounds(points);
  }
}
