/**
 * Drawing a geofence on Leaflet's own primitives (no draw plugin): a polygon by clicking its
 * corners (double-click or a click on the first corner closes it), or a circle by pressing at the
 * centre and dragging out the radius (a plain click gives 200 m; the edge handle resizes it).
 */

import { uiScale } from './dom.js';

const L = window.L;
const DEFAULT_RADIUS_M = 200;
const MIN_DRAG_RADIUS_M = 15; // a shorter drag is a click
const SAME_POINT_PX = 6; // the two clicks of a double-click are one corner

export class DrawTool {
  /**
   * `onChange(shape)` runs while drawing and when the finished shape changes (null: nothing yet);
   * `onDone(shape)` once the shape is complete; `onCancel()` after Escape.
   * A shape is { type: 'polygon', latlngs } or { type: 'circle', center, radius }.
   */
  constructor(map, { onChange = () => {}, onDone = () => {}, onCancel = () => {} }) {
    this.map = map;
    this.onChange = onChange;
    this.onDone = onDone;
    this.onCancel = onCancel;
    this.group = L.layerGroup().addTo(map);
    this.mode = 'idle'; // idle | polygon | circle | done
    this.points = [];
    this.shape = null;
    this.handlers = {
      click: (event) => this.click(event),
      dblclick: (event) => this.dblclick(event),
      mousemove: (event) => this.move(event),
      mousedown: (event) => this.down(event),
      mouseup: (event) => this.up(event),
    };
    this.keydown = (event) => this.key(event);
  }

  get active() {
    return this.mode === 'polygon' || this.mode === 'circle';
  }

  startPolygon() {
    this.start('polygon');
    this.outline = L.polyline([], { pane: 'journeys', className: 'draft-outline', interactive: false }).addTo(this.group);
    this.rubber = L.polyline([], { pane: 'journeys', className: 'draft-rubber', interactive: false }).addTo(this.group);
  }

  startCircle() {
    this.start('circle');
  }

  start(mode) {
    this.clear();
    this.mode = mode;
    this.map.doubleClickZoom.disable();
    this.map.getContainer().classList.add('is-drawing');
    this.map.on(this.handlers);
    document.addEventListener('keydown', this.keydown);
    this.onChange(null);
  }

  /** Stops listening to the map (the finished shape stays until clear()). */
  stop() {
    this.map.off(this.handlers);
    document.removeEventListener('keydown', this.keydown);
    this.map.getContainer().classList.remove('is-drawing');
    this.map.dragging.enable();
    // Re-enabled later: the double-click that closed a polygon must not zoom.
    setTimeout(() => this.map.doubleClickZoom.enable(), 400);
  }

  /** Removes everything drawn and stops. */
  clear() {
    if (this.active) this.stop();
    this.group.clearLayers();
    this.mode = 'idle';
    this.points = [];
    this.shape = null;
    this.circle = null;
    this.handle = null;
  }

  cancel() {
    const was = this.mode;
    this.clear();
    if (was !== 'idle') this.onCancel();
  }

  key(event) {
    const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName);
    if (event.key === 'Escape') this.cancel();
    else if (event.key === 'Enter' && this.mode === 'polygon' && this.points.length >= 3 && !typing) this.finishPolygon();
    else if (event.key === 'Backspace' && this.mode === 'polygon' && !typing && this.points.length) {
      event.preventDefault();
      this.points.pop();
      this.redrawPolygon();
    }
  }

  // ---- polygon ----

  click(event) {
    if (this.mode !== 'polygon') return;
    const last = this.points[this.points.length - 1];
    if (last && this.map.latLngToContainerPoint(last).distanceTo(event.containerPoint) < SAME_POINT_PX) return;
    this.points.push(event.latlng);
    this.redrawPolygon();
  }

  dblclick(event) {
    if (this.mode !== 'polygon') return;
    L.DomEvent.stop(event.originalEvent ?? event);
    if (this.points.length >= 3) this.finishPolygon();
  }

  move(event) {
    if (this.mode === 'polygon' && this.points.length) {
      this.rubber.setLatLngs([this.points[this.points.length - 1], event.latlng, ...(this.points.length > 1 ? [this.points[0]] : [])]);
    } else if (this.mode === 'circle' && this.circle && this.pressed) {
      this.circle.setRadius(Math.max(1, this.circle.getLatLng().distanceTo(event.latlng)));
      this.onChange(this.currentShape());
    }
  }

  redrawPolygon() {
    this.outline.setLatLngs(this.points);
    this.rubber.setLatLngs([]);
    for (const layer of this.corners ?? []) layer.remove();
    this.corners = this.points.map((point, index) => {
      const corner = L.circleMarker(point, { pane: 'incidents', className: index === 0 ? 'draft-corner draft-first' : 'draft-corner', radius: 5 * uiScale(), bubblingMouseEvents: false });
      if (index === 0) corner.on('click', () => this.points.length >= 3 && this.finishPolygon());
      return corner.addTo(this.group);
    });
    this.onChange(this.points.length >= 3 ? { type: 'polygon', latlngs: [...this.points] } : null);
  }

  finishPolygon() {
    const latlngs = [...this.points];
    this.stop();
    this.group.clearLayers();
    this.corners = [];
    this.shape = L.polygon(latlngs, { pane: 'journeys', className: 'draft-shape' }).addTo(this.group);
    this.mode = 'done';
    this.finished({ type: 'polygon', latlngs });
  }

  // ---- circle ----

  down(event) {
    if (this.mode !== 'circle' || (event.originalEvent && event.originalEvent.button !== 0)) return;
    this.map.dragging.disable();
    this.pressed = true;
    this.group.clearLayers();
    this.circle = L.circle(event.latlng, { pane: 'journeys', className: 'draft-shape', radius: 1, interactive: false }).addTo(this.group);
  }

  up() {
    if (this.mode !== 'circle' || !this.pressed) return;
    this.pressed = false;
    if (this.circle.getRadius() < MIN_DRAG_RADIUS_M) this.circle.setRadius(DEFAULT_RADIUS_M);
    this.stop();
    this.mode = 'done';
    this.shape = this.circle;
    this.addHandle();
    this.finished(this.currentShape());
  }

  /** A draggable handle on the circle's east edge sets its radius. */
  addHandle() {
    const size = Math.round(16 * uiScale());
    const icon = L.divIcon({ className: 'draft-handle', iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
    this.handle = L.marker(this.edgePoint(), { icon, draggable: true, pane: 'incidents', keyboard: false, zIndexOffset: 3000 }).addTo(this.group);
    this.handle.on('drag', () => {
      this.circle.setRadius(Math.max(MIN_DRAG_RADIUS_M, this.circle.getLatLng().distanceTo(this.handle.getLatLng())));
      this.onChange(this.currentShape());
    });
    this.handle.on('dragend', () => this.handle.setLatLng(this.edgePoint()));
  }

  edgePoint() {
    const center = this.circle.getLatLng();
    const dLon = this.circle.getRadius() / (111320 * Math.cos((center.lat * Math.PI) / 180));
    return L.latLng(center.lat, center.lng + dLon);
  }

  /** Sets the finished circle's radius (the form's number field). */
  setRadius(metres) {
    if (!this.circle || !Number.isFinite(metres) || metres <= 0) return;
    this.circle.setRadius(metres);
    this.handle?.setLatLng(this.edgePoint());
    this.onChange(this.currentShape());
  }

  currentShape() {
    if (!this.circle) return null;
    return { type: 'circle', center: this.circle.getLatLng(), radius: Math.round(this.circle.getRadius()) };
  }

  finished(shape) {
    this.onChange(shape);
    this.onDone(shape);
  }

  bounds() {
    return this.shape?.getBounds?.() ?? null;
  }
}

/** A drawn shape as the API's geofence shape ([lon, lat] order, polygon ring closed). */
export function apiShape(shape) {
  const round = (value) => Number(value.toFixed(6));
  if (shape.type === 'circle') {
    return { type: 'circle', center: [round(shape.center.lng), round(shape.center.lat)], radius_m: shape.radius };
  }
  const ring = shape.latlngs.map((p) => [round(p.lng), round(p.lat)]);
  ring.push([...ring[0]]);
  return { type: 'polygon', coordinates: [ring] };
}
