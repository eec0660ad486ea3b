/**
 * Road routes and ETAs of the open journeys: each route comes once from GET /eta (vehicle to the
 * scene, or to the hospital while transporting), then follows the vehicle as it drives and as
 * `etas` messages arrive; the ETA counts down between messages.
 */

import { AuthError } from './api.js';
import { h, setData, uiScale } from './dom.js';
import { formatDistance, formatMinutes } from './format.js';
import { t } from './i18n.js';
import { secondsUntil, serverNow } from './server_clock.js';
import { headsForIncident, normaliseStatus } from './status.js';

const L = window.L;
const REFETCH_MIN_MS = 20 * 1000; // a route is asked for again at most this often
const OFF_ROUTE_M = 80; // a vehicle this far from its drawn route gets a new one
const PARALLEL = 2;

/** Where a journey's vehicle is heading now: { kind, key, ... } or null (on scene, returning...). */
export function targetOf(journey) {
  if (headsForIncident(journey.status) && Number.isFinite(journey.incident_lat)) {
    return { kind: 'scene', key: 'scene', lat: journey.incident_lat, lon: journey.incident_lon };
  }
  if (journey.status === 'transporting' && journey.destination_hospital_id != null) {
    return { kind: 'hospital', key: `h${journey.destination_hospital_id}`, hospitalId: journey.destination_hospital_id };
  }
  return null;
}

/** Metres between two points (equirectangular: exact enough within a city). */
function metres(a, b) {
  const k = Math.cos(((a.lat + b.lat) / 2) * (Math.PI / 180));
  const dx = (b.lng - a.lng) * k * 111320;
  const dy = (b.lat - a.lat) * 110540;
  return Math.hypot(dx, dy);
}

/** The point of segment a–b nearest to p, and its distance in metres. */
function nearestOnSegment(p, a, b) {
  const k = Math.cos(p.lat * (Math.PI / 180));
  const ax = a.lng * k;
  const bx = b.lng * k;
  const px = p.lng * k;
  const dx = bx - ax;
  const dy = b.lat - a.lat;
  const length2 = dx * dx + dy * dy;
  const f = length2 ? Math.min(1, Math.max(0, ((px - ax) * dx + (p.lat - a.lat) * dy) / length2)) : 0;
  const point = L.latLng(a.lat + dy * f, a.lng + (b.lng - a.lng) * f);
  return { point, distance: metres(p, point) };
}

export class JourneyRoutes {
  /** `onChange()` runs when an ETA or route changes (the test hook and lists follow). */
  constructor(map, { client, group = null, onChange = () => {}, onAuthError = () => {} }) {
    this.map = map;
    this.client = client;
    this.onChange = onChange;
    this.onAuthError = onAuthError;
    // Inside the journeys overlay when given, so the layer switch hides routes with journeys.
    this.group = L.layerGroup().addTo(group ?? map);
    this.entries = new Map();
    this.etas = new Map(); // journey id -> { remaining_s, remaining_m, arrival_at, target, receivedAt }
    this.queue = [];
    this.running = 0;
    this.selectedId = null;
    this.label = null;
  }

  /** Keeps a route for exactly the journeys heading somewhere. */
  sync(journeys) {
    const wanted = new Set();
    for (const journey of journeys) {
      const target = targetOf(journey);
      if (!target) continue;
      wanted.add(journey.id);
      let entry = this.entries.get(journey.id);
      if (!entry) {
        entry = this.create(journey);
      }
      entry.journey = journey;
      if (entry.target?.key !== target.key) {
        entry.target = target;
        entry.latlngs = [];
        entry.fetchedAt = 0;
        entry.line.setLatLngs([]);
        entry.casing.setLatLngs([]);
        this.request(entry);
      }
      this.decorate(entry);
    }
    for (const id of [...this.entries.keys()]) if (!wanted.has(id)) this.remove(id);
    for (const id of [...this.etas.keys()]) if (!wanted.has(id)) this.etas.delete(id);
    this.refreshLabel();
    this.onChange();
  }

  create(journey) {
    const casing = L.polyline([], { pane: 'journeys', className: 'route-casing', interactive: false });
    const line = L.polyline([], { pane: 'journeys', className: 'route-line', interactive: false });
    const entry = { journey, target: null, latlngs: [], line, casing, fetchedAt: 0, queued: false };
    // Re-added by the layer switch: new SVG elements need their data attributes again.
    line.on('add', () => this.decorate(entry));
    casing.on('add', () => this.decorate(entry));
    casing.addTo(this.group);
    line.addTo(this.group);
    this.entries.set(journey.id, entry);
    return entry;
  }

  decorate(entry) {
    for (const layer of [entry.line, entry.casing]) {
      const element = layer.getElement();
      if (!element) continue;
      setData(element, 'journeyId', String(entry.journey.id));
      setData(element, 'status', normaliseStatus(entry.journey.status));
      setData(element, 'target', entry.target?.kind ?? 'none');
      element.classList.toggle('is-selected', entry.journey.id === this.selectedId);
    }
  }

  remove(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.line.remove();
    entry.casing.remove();
    this.entries.delete(id);
  }

  has(id) {
    return (this.entries.get(id)?.latlngs.length ?? 0) > 1;
  }

  /** Asks for the entry's route (queued: at most two requests at a time, each route at most every 20 s). */
  request(entry) {
    if (entry.queued || Date.now() - entry.fetchedAt < REFETCH_MIN_MS) return;
    entry.queued = true;
    this.queue.push(entry);
    this.pump();
  }

  pump() {
    while (this.running < PARALLEL && this.queue.length) {
      const entry = this.queue.shift();
      entry.queued = false;
      if (this.entries.get(entry.journey.id) !== entry) continue;
      this.running += 1;
      this.fetch(entry).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  async fetch(entry) {
    const { target, journey } = entry;
    entry.fetchedAt = Date.now();
    let answer;
    try {
      answer = await this.client.eta(
        target.kind === 'scene'
          ? { vehicleId: journey.vehicle_id, lat: target.lat, lon: target.lon }
          : { vehicleId: journey.vehicle_id, hospitalId: target.hospitalId },
      );
    } catch (error) {
      if (error instanceof AuthError) this.onAuthError();
      else console.warn(`route of journey ${journey.id} failed`, error);
      return;
    }
    // The journey may have moved on while the route was computed.
    if (this.entries.get(journey.id) !== entry || entry.target !== target) return;
    const coordinates = answer?.route?.coordinates ?? [];
    entry.latlngs = coordinates.filter((c) => Array.isArray(c) && c.length >= 2).map(([lon, lat]) => L.latLng(lat, lon));
    this.draw(entry);
    if (!this.etas.has(journey.id) || this.etas.get(journey.id).target !== target.kind) {
      this.etas.set(journey.id, {
        remaining_s: answer.duration_s,
        remaining_m: answer.distance_m,
        arrival_at: answer.arrival_at,
        target: target.kind,
        receivedAt: serverNow(),
      });
    }
    this.refreshLabel();
    this.onChange();
  }

  draw(entry) {
    entry.line.setLatLngs(entry.latlngs);
    entry.casing.setLatLngs(entry.latlngs);
    this.decorate(entry);
  }

  /** `etas` messages: the latest ETA of each journey, and its route trimmed to where the vehicle is. */
  applyEtas(etas) {
    let changed = false;
    for (const eta of etas) {
      if (eta?.journey_id == null) continue;
      this.etas.set(eta.journey_id, {
        remaining_s: eta.remaining_s,
        remaining_m: eta.remaining_m,
        arrival_at: eta.arrival_at,
        target: eta.target,
        receivedAt: serverNow(),
      });
      changed = true;
      const entry = this.entries.get(eta.journey_id);
      if (!entry) continue;
      if (entry.target?.kind !== eta.target) continue; // a status change is on its way
      if (Number.isFinite(eta.lat) && Number.isFinite(eta.lon)) this.follow(entry, L.latLng(eta.lat, eta.lon));
    }
    if (changed) {
      this.refreshLabel();
      this.onChange();
    }
  }

  /** A vehicle moved: its route starts where it is now (or is asked for again when it left it). */
  vehicleMoved(vehicleId, position) {
    if (!position || !Number.isFinite(position.lat)) return;
    for (const entry of this.entries.values()) {
      if (entry.journey.vehicle_id === vehicleId) this.follow(entry, L.latLng(position.lat, position.lon));
    }
  }

  follow(entry, at) {
    const points = entry.latlngs;
    if (points.length < 2) {
      this.request(entry);
      return;
    }
    let best = { index: -1, distance: Infinity, point: null };
    for (let i = 0; i < points.length - 1; i += 1) {
      const { point, distance } = nearestOnSegment(at, points[i], points[i + 1]);
      if (distance < best.distance) best = { index: i, distance, point };
    }
    if (best.distance > OFF_ROUTE_M) {
      this.request(entry);
      return;
    }
    entry.latlngs = [at, best.point, ...points.slice(best.index + 1)];
    this.draw(entry);
  }

  /**
   * The ETA of a journey now: { seconds, metres, target, arrivalAt } (seconds counting down by
   * the server's clock), or null when none is known.
   */
  etaOf(journeyId) {
    const eta = this.etas.get(journeyId);
    if (!eta) return null;
    let seconds = secondsUntil(eta.arrival_at);
    if (!Number.isFinite(seconds)) seconds = eta.remaining_s - (serverNow() - eta.receivedAt) / 1000;
    return { seconds: Math.max(0, seconds), metres: eta.remaining_m, target: eta.target, arrivalAt: eta.arrival_at };
  }

  /** The test hook's form: journey id -> { remaining_s, remaining_m, arrival_at, target, route_points }. */
  toObject() {
    const out = {};
    for (const [id, eta] of this.etas) {
      out[id] = { ...eta, seconds_left: Math.round(this.etaOf(id)?.seconds ?? 0), route_points: this.entries.get(id)?.latlngs.length ?? 0 };
    }
    for (const [id, entry] of this.entries) {
      if (!out[id]) out[id] = { route_points: entry.latlngs.length, target: entry.target?.kind ?? null };
    }
    return out;
  }

  /** Highlights a journey's route and labels its ETA at the end (null clears). */
  select(id) {
    this.selectedId = id;
    for (const entry of this.entries.values()) this.decorate(entry);
    this.refreshLabel();
  }

  /** Once a second (and on changes): the selected route's ETA label. */
  refreshLabel() {
    const entry = this.entries.get(this.selectedId);
    const eta = entry ? this.etaOf(entry.journey.id) : null;
    if (!entry || entry.latlngs.length < 2 || !eta) {
      this.label?.remove();
      this.label = null;
      return;
    }
    const end = entry.latlngs[entry.latlngs.length - 1];
    const text = `${t(`eta.to.${eta.target}`)} ${formatMinutes(eta.seconds)} · ${formatDistance(eta.metres)}`;
    if (!this.label) {
      this.label = L.tooltip({ permanent: true, direction: 'top', offset: [0, -Math.round(18 * uiScale())], className: 'eta-tip', interactive: false });
      this.label.setLatLng(end).setContent(h('span', { id: 'route-eta-label', text })).openOn(this.map);
    } else {
      this.label.setLatLng(end);
      const span = this.label.getElement()?.querySelector('#route-eta-label');
      if (span && span.textContent !== text) span.textContent = text;
    }
  }

  /** Bounds of a journey's route (for fitting the map), or null. */
  bounds(id) {
    const entry = this.entries.get(id);
    return entry && entry.latlngs.length > 1 ? L.latLngBounds(entry.latlngs) : null;
  }
}
