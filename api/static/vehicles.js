/** Vehicle markers: heading arrow, call-sign label, status colour, freshness, smooth moves and faint trails. */

import { h, setData, setText, uiScale } from './dom.js';
import { parseTime } from './format.js';
import { t } from './i18n.js';
import { normaliseStatus, statusLabel } from './status.js';

const L = window.L;
const MOVE_MS = 900;
const JUMP_METRES = 3000; // farther than this is a jump, not a drive: no animation
const TRAIL_MAX_POINTS = 60;
const TRAIL_WINDOW_MS = 5 * 60 * 1000;
/** The label's badge: why a vehicle's position is not live. */
const badgeText = (freshness) => t(freshness === 'nofix' ? 'fresh.nofix' : 'fresh.offline');

const Z_OFFSET = { fresh: 300, stale: 200, nofix: 100, offline: 0, none: 0 };
const TRAIL_COLOUR = { fresh: '#cfe0f5', stale: '#f5b83d', nofix: '#c58af5', offline: '#8d99a8', none: '#8d99a8' };

// Constant markup (no data inside): a disc with a navigation arrow pointing north before rotation.
const ICON_HTML =
  '<svg class="vehicle-glyph" viewBox="-20 -20 40 40" aria-hidden="true">' +
  '<circle class="vehicle-disc" r="14"></circle>' +
  '<path class="vehicle-arrow" d="M0,-10 L7.5,8 L0,3.5 L-7.5,8 Z"></path>' +
  '<circle class="vehicle-dot" r="4.5"></circle>' +
  '</svg>';

function easeInOut(k) {
  return k < 0.5 ? 2 * k * k : 1 - (-2 * k + 2) ** 2 / 2;
}

/** Turns `heading` into an angle near `previous`, so a 350° → 10° turn rotates 20°, not 340°. */
function unwrapAngle(previous, heading) {
  const delta = ((((heading - previous) % 360) + 540) % 360) - 180;
  return previous + delta;
}

export class VehicleLayer {
  /** `onSelect(id)` runs when a marker is clicked. */
  constructor(map, { onSelect }) {
    this.map = map;
    this.onSelect = onSelect;
    this.entries = new Map();
    this.moving = new Set();
    this.frameId = 0;
    this.selectedId = null;
    this.trailRenderer = L.canvas({ padding: 0.3 });
    this.trails = L.layerGroup().addTo(map);
    this.markers = L.layerGroup().addTo(map);
    this.step = this.step.bind(this);
  }

  /** Creates or updates the marker of a vehicle record; removes it when it has no position. */
  sync(vehicle, freshness, { animate = true } = {}) {
    const position = vehicle.position;
    if (!position) {
      this.remove(vehicle.id);
      return;
    }
    const target = L.latLng(position.lat, position.lon);
    let entry = this.entries.get(vehicle.id);
    if (!entry) {
      entry = this.create(vehicle, target);
    } else {
      this.moveTo(entry, target, animate);
    }
    setText(entry.callSign, vehicle.call_sign || vehicle.plate || String(vehicle.id));
    this.setStatus(vehicle.id, vehicle.status);
    this.setHeading(entry, position.heading);
    this.setFreshness(vehicle.id, freshness);
    this.addTrailPoint(vehicle.id, position);
  }

  create(vehicle, latLng) {
    const size = Math.round(40 * uiScale());
    const icon = L.divIcon({ className: 'vehicle-icon', html: ICON_HTML, iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
    const marker = L.marker(latLng, { icon, keyboard: false, riseOnHover: true });
    const callSign = h('span', { class: 'vehicle-callsign' });
    const badge = h('span', { class: 'vehicle-badge', text: t('fresh.offline') });
    const statusText = h('span', { class: 'vehicle-status' });
    marker.bindTooltip(h('span', { class: 'vehicle-label-text' }, callSign, statusText, badge), {
      permanent: true,
      direction: 'right',
      offset: [Math.round(size * 0.35), 0],
      className: 'vehicle-label',
    });
    marker.on('click', () => this.onSelect(vehicle.id));
    const trail = L.polyline([], {
      renderer: this.trailRenderer,
      interactive: false,
      weight: 3,
      opacity: 0.45,
      color: TRAIL_COLOUR.fresh,
    });
    const entry = { id: vehicle.id, marker, callSign, badge, statusText, status: '', trail, points: [], angle: 0, headingShown: false, anim: null, freshness: '' };
    this.entries.set(vehicle.id, entry);
    trail.addTo(this.trails);
    marker.addTo(this.markers);
    setData(marker.getElement(), 'vehicleId', String(vehicle.id));
    setData(marker.getTooltip().getElement(), 'vehicleId', String(vehicle.id));
    this.setSelectedClass(entry, vehicle.id === this.selectedId);
    return entry;
  }

  remove(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.moving.delete(entry);
    entry.marker.remove();
    entry.trail.remove();
    this.entries.delete(id);
  }

  /** Removes every marker whose id is not in `ids`. */
  retainOnly(ids) {
    for (const id of [...this.entries.keys()]) if (!ids.has(id)) this.remove(id);
  }

  /** Colours marker, label and trail by freshness; disconnected vehicles sink below live ones. */
  setFreshness(id, freshness) {
    const entry = this.entries.get(id);
    if (!entry || entry.freshness === freshness) return;
    entry.freshness = freshness;
    setText(entry.badge, badgeText(freshness));
    setData(entry.marker.getElement(), 'freshness', freshness);
    setData(entry.marker.getTooltip().getElement(), 'freshness', freshness);
    this.raise(entry);
    entry.trail.setStyle({ color: TRAIL_COLOUR[freshness] });
  }

  /** Colours marker and label by the vehicle's status (available, en_route...); the label names it. */
  setStatus(id, status) {
    const entry = this.entries.get(id);
    if (!entry) return;
    const known = normaliseStatus(status);
    entry.status = known;
    setData(entry.marker.getElement(), 'status', known);
    setData(entry.marker.getTooltip().getElement(), 'status', known);
    setText(entry.statusText, statusLabel(known));
    this.raise(entry);
  }

  setHeading(entry, heading) {
    const glyph = entry.marker.getElement()?.querySelector('.vehicle-glyph');
    if (!glyph) return;
    const known = typeof heading === 'number' && Number.isFinite(heading);
    setData(glyph, 'heading', known ? 'known' : 'unknown');
    if (!known) return;
    entry.angle = unwrapAngle(entry.angle, heading);
    if (entry.headingShown) {
      glyph.style.transform = `rotate(${entry.angle}deg)`;
      return;
    }
    // First heading: jump straight to it instead of spinning in from north.
    entry.headingShown = true;
    glyph.style.transition = 'none';
    glyph.style.transform = `rotate(${entry.angle}deg)`;
    glyph.getBoundingClientRect();
    glyph.style.transition = '';
  }

  /** Adds a fix to the vehicle's trail in time order (late fixes land where they belong). */
  addTrailPoint(id, fix) {
    const entry = this.entries.get(id);
    const time = parseTime(fix.time);
    if (!entry || Number.isNaN(time) || !Number.isFinite(fix.lat) || !Number.isFinite(fix.lon)) return;
    const points = entry.points;
    if (points.some((point) => point.time === time)) return;
    let index = points.length;
    while (index > 0 && points[index - 1].time > time) index -= 1;
    points.splice(index, 0, { time, latLng: L.latLng(fix.lat, fix.lon) });
    const newest = points[points.length - 1].time;
    while (points.length > TRAIL_MAX_POINTS || (points.length && points[0].time < newest - TRAIL_WINDOW_MS)) {
      points.shift();
    }
    entry.trail.setLatLngs(points.map((point) => point.latLng));
  }

  moveTo(entry, target, animate) {
    const from = entry.marker.getLatLng();
    if (from.equals(target)) return;
    if (!animate || document.hidden || from.distanceTo(target) > JUMP_METRES) {
      this.moving.delete(entry);
      entry.anim = null;
      entry.marker.setLatLng(target);
      return;
    }
    entry.anim = { from, to: target, start: performance.now() };
    this.moving.add(entry);
    if (!this.frameId) this.frameId = requestAnimationFrame(this.step);
  }

  step(now) {
    for (const entry of this.moving) {
      const { from, to, start } = entry.anim;
      const k = Math.min(1, Math.max(0, (now - start) / MOVE_MS));
      const f = easeInOut(k);
      entry.marker.setLatLng([from.lat + (to.lat - from.lat) * f, from.lng + (to.lng - from.lng) * f]);
      if (k >= 1) {
        this.moving.delete(entry);
        entry.anim = null;
      }
    }
    this.frameId = this.moving.size ? requestAnimationFrame(this.step) : 0;
  }

  /** Highlights one vehicle (or none with null). */
  select(id) {
    const previous = this.entries.get(this.selectedId);
    this.selectedId = id;
    if (previous) this.setSelectedClass(previous, false);
    const entry = this.entries.get(id);
    if (entry) this.setSelectedClass(entry, true);
  }

  setSelectedClass(entry, selected) {
    entry.marker.getElement()?.classList.toggle('is-selected', selected);
    entry.marker.getTooltip()?.getElement()?.classList.toggle('is-selected', selected);
    this.raise(entry);
  }

  /** Stacking: selected on top, then vehicles on a journey, then by freshness. */
  raise(entry) {
    const onJourney = entry.status && !['available', 'out_of_service', 'unknown'].includes(entry.status);
    const selected = entry.id === this.selectedId;
    entry.marker.setZIndexOffset((Z_OFFSET[entry.freshness] ?? 0) + (onJourney ? 100 : 0) + (selected ? 1000 : 0));
  }

  /** Pans (and zooms in if far out) to a vehicle; false when it has no marker. */
  panTo(id) {
    const entry = this.entries.get(id);
    if (!entry) return false;
    const target = entry.anim ? entry.anim.to : entry.marker.getLatLng();
    this.map.setView(target, Math.max(this.map.getZoom(), 15), { animate: true });
    return true;
  }

  /** Zooms to show every vehicle that has a position. */
  fitAll() {
    const points = [...this.entries.values()].map((entry) => entry.anim?.to ?? entry.marker.getLatLng());
    if (points.length === 1) this.map.setView(points[0], Math.max(this.map.getZoom(), 15));
    else if (points.length > 1) this.map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom: 16 });
  }

  /** Re-translates the labels' status names and "disconnected" badges. */
  relabel() {
    for (const entry of this.entries.values()) {
      setText(entry.badge, badgeText(entry.freshness));
      setText(entry.statusText, statusLabel(entry.status));
    }
  }

  /** The vehicle's current map position (its destination while animating), or null. */
  latLng(id) {
    const entry = this.entries.get(id);
    return entry ? entry.anim?.to ?? entry.marker.getLatLng() : null;
  }
}
