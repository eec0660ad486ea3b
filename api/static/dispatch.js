/**
 * Creating a journey: "Tạo hành trình" (or a right-click on the map), a click places the
 * incident, the card ranks the available ambulances and emergency hospitals by road time, and
 * "Điều động" sends POST /journeys. The chosen ambulance's road route is previewed.
 */

import { ApiError, AuthError } from './api.js';
import { byId, h, setText, uiScale } from './dom.js';
import { t } from './i18n.js';
import { DispatchPanel } from './dispatch_panel.js';
import { INCIDENT_HTML } from './journey_layer.js';

const L = window.L;
const UNITS_SHOWN = 6;
const HOSPITALS_SHOWN = 5;

/** The tool's state, mirrored to window.ambState.dispatch for tests. */
function initialState() {
  return {
    phase: 'idle', // idle | placing | open | sending
    incident: null,
    units: [],
    unitsState: 'loading',
    vehicleId: null,
    hospitals: [],
    hospitalsState: 'loading',
    hospitalId: null,
    priority: 2,
    sending: false,
    error: null,
    lastJourneyId: null,
  };
}

export class DispatchTool {
  /**
   * `onDispatched(journey)` runs after a successful POST; `onState(state)` after every change;
   * `onAuthError()` when the session is gone.
   */
  constructor(map, { client, onDispatched, onBegin = () => {}, onState = () => {}, onAuthError = () => {} }) {
    this.map = map;
    this.onBegin = onBegin;
    this.client = client;
    this.onDispatched = onDispatched;
    this.onState = onState;
    this.onAuthError = onAuthError;
    this.state = initialState();
    this.ticket = 0;
    this.preview = L.polyline([], { pane: 'journeys', className: 'dispatch-preview', interactive: false }).addTo(map);
    this.marker = null;
    this.hint = byId('map-hint');
    this.panel = new DispatchPanel({
      onUnit: (id) => this.chooseUnit(id),
      onHospital: (id) => this.update({ hospitalId: id }),
      onPriority: (n) => this.update({ priority: n }),
      onSubmit: () => this.submit(),
      onCancel: () => this.cancel(),
      onRetry: () => this.place(this.state.incident),
    });
    this.button = this.addButton(map);
    map.on('click', (event) => {
      if (this.state.phase === 'placing' || this.state.phase === 'open') this.place(event.latlng);
    });
    map.on('contextmenu', (event) => this.place(event.latlng));
    document.addEventListener('keydown', (event) => this.key(event));
    this.emit();
  }

  /** The map's "Tạo hành trình" button (top left, under the zoom). */
  addButton(map) {
    const button = h('button', { type: 'button', id: 'new-journey', class: 'map-action', onclick: () => this.begin() });
    const control = L.control({ position: 'topleft' });
    control.onAdd = () => {
      const box = h('div', { class: 'leaflet-control map-actions' }, button);
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    control.addTo(map);
    return button;
  }

  key(event) {
    const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName);
    if (event.key === 'Escape' && this.state.phase !== 'idle') this.cancel();
    else if ((event.key === 'n' || event.key === 'N') && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) this.begin();
  }

  /** Waits for a click on the map. */
  begin() {
    if (this.state.phase === 'sending') return;
    if (this.state.phase === 'idle') this.onBegin();
    this.update({ phase: this.state.incident ? 'open' : 'placing' });
  }

  /** Puts (or moves) the incident and ranks units and hospitals from there. */
  async place(latlng) {
    if (!latlng || this.state.phase === 'sending') return;
    if (this.state.phase === 'idle') this.onBegin();
    const incident = L.latLng(latlng.lat, latlng.lng);
    const first = this.state.phase !== 'open';
    this.setMarker(incident);
    const ticket = ++this.ticket;
    this.update({ phase: 'open', incident, units: [], unitsState: 'loading', vehicleId: null, hospitals: [], hospitalsState: 'loading', error: null });
    this.preview.setLatLngs([]);
    this.panel.show();
    if (first) this.panel.focusAddress();
    const [units, hospitals] = await Promise.allSettled([
      this.client.fastestUnits(incident.lat, incident.lng, UNITS_SHOWN),
      this.client.hospitalsNear(incident.lat, incident.lng),
    ]);
    if (ticket !== this.ticket) return;
    if ([units, hospitals].some((r) => r.status === 'rejected' && r.reason instanceof AuthError)) {
      this.onAuthError();
      return;
    }
    const list = units.status === 'fulfilled' ? units.value : [];
    const kept = list.some((unit) => unit.id === this.state.vehicleId) ? this.state.vehicleId : list[0]?.id ?? null;
    const hospitalList = hospitals.status === 'fulfilled' ? hospitals.value.slice(0, HOSPITALS_SHOWN) : [];
    const hospitalId = hospitalList.some((x) => x.id === this.state.hospitalId) ? this.state.hospitalId : null;
    this.update({
      units: list,
      unitsState: units.status === 'rejected' ? `error:${units.reason.message}` : list.length ? 'ready' : 'empty',
      vehicleId: kept,
      hospitals: hospitalList,
      hospitalsState: hospitals.status === 'rejected' ? `error:${hospitals.reason.message}` : 'ready',
      hospitalId,
    });
    if (kept !== null) this.showPreview(kept);
  }

  setMarker(incident) {
    if (!this.marker) {
      const size = Math.round(38 * uiScale());
      const icon = L.divIcon({ className: 'incident-icon incident-draft', html: INCIDENT_HTML, iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
      this.marker = L.marker(incident, { icon, pane: 'incidents', draggable: true, keyboard: false, zIndexOffset: 2000 });
      this.marker.on('dragend', () => this.place(this.marker.getLatLng()));
      this.marker.addTo(this.map);
      this.marker.getElement().id = 'dispatch-incident';
    } else {
      this.marker.setLatLng(incident);
    }
  }

  chooseUnit(id) {
    this.update({ vehicleId: id });
    this.showPreview(id);
  }

  /** Draws the chosen ambulance's road route to the incident (dashed: not dispatched yet). */
  async showPreview(vehicleId) {
    const { incident } = this.state;
    const ticket = this.ticket;
    this.preview.setLatLngs([]);
    try {
      const eta = await this.client.eta({ vehicleId, lat: incident.lat, lon: incident.lng });
      if (ticket !== this.ticket || this.state.vehicleId !== vehicleId) return;
      const points = (eta?.route?.coordinates ?? []).map(([lon, lat]) => L.latLng(lat, lon));
      this.preview.setLatLngs(points);
      this.preview.getElement()?.setAttribute('data-vehicle-id', String(vehicleId));
      if (points.length > 1) {
        const bounds = L.latLngBounds(points).extend(incident);
        if (!this.map.getBounds().contains(bounds)) this.map.fitBounds(bounds, { paddingTopLeft: [this.cardWidth(), 40], paddingBottomRight: [40, 40], maxZoom: 16 });
      }
    } catch (error) {
      console.warn('route preview failed', error);
    }
  }

  cardWidth() {
    const card = byId('dispatch-panel');
    return card.hidden ? 40 : card.offsetWidth + 40;
  }

  async submit() {
    const { incident, vehicleId, hospitalId, priority } = this.state;
    if (!incident || vehicleId === null || this.state.sending) return;
    const { address, note } = this.panel.values();
    this.update({ phase: 'sending', sending: true, error: null });
    try {
      const journey = await this.client.createJourney({
        vehicle_id: vehicleId,
        incident: { lat: Number(incident.lat.toFixed(6)), lon: Number(incident.lng.toFixed(6)), address: address || null },
        priority,
        destination_hospital_id: hospitalId,
        note: note || null,
      });
      this.finish(journey);
    } catch (error) {
      if (error instanceof AuthError) {
        this.onAuthError();
        return;
      }
      const detail = error.detail || error.message;
      const message = error instanceof ApiError && error.status === 403 ? () => t('dispatch.forbidden') : () => t('dispatch.error', { e: detail });
      this.update({ phase: 'open', sending: false, error: message });
      // The unit may have been taken meanwhile (409): rank again.
      if (error instanceof ApiError && error.status === 409) this.place(incident);
    }
  }

  finish(journey) {
    const unit = this.state.units.find((u) => u.id === journey?.vehicle_id);
    this.close();
    this.state.lastJourneyId = journey?.id ?? null;
    this.emit();
    this.doneSign = unit?.call_sign || journey?.call_sign || '';
    setText(this.hint, t('dispatch.done', { c: this.doneSign }));
    this.hint.dataset.tone = 'done';
    this.hint.hidden = false;
    setTimeout(() => {
      if (this.hint.dataset.tone === 'done') this.hint.hidden = true;
    }, 4000);
    this.onDispatched(journey);
  }

  cancel() {
    this.close();
    this.emit();
  }

  close() {
    this.ticket += 1;
    this.marker?.remove();
    this.marker = null;
    this.preview.setLatLngs([]);
    this.panel.hide();
    this.panel.reset();
    const last = this.state.lastJourneyId;
    const priority = this.state.priority;
    this.state = { ...initialState(), lastJourneyId: last, priority };
  }

  update(changes) {
    Object.assign(this.state, changes);
    this.emit();
  }

  emit() {
    const { phase } = this.state;
    this.map.getContainer().classList.toggle('is-placing', phase === 'placing');
    this.map.getContainer().classList.toggle('is-dispatching', phase === 'open' || phase === 'sending');
    this.button.setAttribute('aria-pressed', String(phase !== 'idle'));
    if (phase === 'placing') {
      setText(this.hint, t('dispatch.placeHint'));
      this.hint.dataset.tone = 'info';
      this.hint.hidden = false;
    } else if (this.hint.dataset.tone === 'info') {
      this.hint.hidden = true;
    } else if (this.hint.dataset.tone === 'done' && !this.hint.hidden) {
      setText(this.hint, t('dispatch.done', { c: this.doneSign }));
    }
    if (phase === 'open' || phase === 'sending') this.panel.render(this.state);
    this.relabelButton();
    this.onState(this.snapshot());
  }

  relabelButton() {
    this.button.replaceChildren(h('span', { class: 'map-action-plus', 'aria-hidden': 'true', text: '+' }), t('dispatch.new'));
    this.button.title = t('dispatch.newTitle');
  }

  relabel() {
    this.emit();
  }

  /** Plain data for window.ambState.dispatch. */
  snapshot() {
    const { phase, incident, units, vehicleId, hospitals, hospitalId, priority, error, lastJourneyId } = this.state;
    return {
      phase,
      incident: incident ? { lat: incident.lat, lon: incident.lng } : null,
      units: units.map((u) => ({ id: u.id, call_sign: u.call_sign, duration_s: u.duration_s, distance_m: u.distance_m })),
      vehicleId,
      hospitals: hospitals.map((x) => ({ id: x.id, duration_s: x.duration_s })),
      hospitalId,
      priority,
      error: error ? error() : null,
      lastJourneyId,
    };
  }
}
