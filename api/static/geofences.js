/** Geofences as a toggleable overlay: light fills by kind, restricted zones hatched red, speed zones with their limit. */

import { h, setData } from './dom.js';
import { t } from './i18n.js';

const L = window.L;
export const GEOFENCE_KINDS = ['hospital_area', 'station', 'scene', 'service_area', 'restricted_zone', 'speed_zone'];

// Colours by kind; restricted zones fill with the hatch pattern defined in index.html.
const STYLES = {
  hospital_area: { color: '#ff8a8a', weight: 1.2, fillColor: '#ff6b6b', fillOpacity: 0.07, opacity: 0.55 },
  station: { color: '#5ee0b0', weight: 1.5, fillColor: '#34d1a0', fillOpacity: 0.1, opacity: 0.7 },
  scene: { color: '#ffd166', weight: 1.5, fillColor: '#ffd166', fillOpacity: 0.1, opacity: 0.7, dashArray: '4 4' },
  service_area: { color: '#8cc8ff', weight: 2, fill: false, opacity: 0.5, dashArray: '12 8' },
  restricted_zone: { color: '#ff4d4d', weight: 2.5, fillColor: 'url(#hatch-restricted)', fillOpacity: 1, opacity: 0.9 },
  speed_zone: { color: '#b69cff', weight: 2, fillColor: '#9d7dff', fillOpacity: 0.12, opacity: 0.85 },
};
const OTHER_STYLE = { color: '#c0c8d2', weight: 1, fillOpacity: 0.05, opacity: 0.5 };

export function kindLabel(kind) {
  const key = `geofence.${kind}`;
  const label = t(key);
  return label === key ? String(kind ?? '') : label;
}

/** Where to put a speed zone's sign: the middle of a corridor's line, else the shape's centre. */
function labelPoint(feature, layer) {
  const shape = feature.properties?.shape;
  if (shape?.type === 'circle' && Array.isArray(shape.center)) return L.latLng(shape.center[1], shape.center[0]);
  if (shape?.type === 'corridor' && Array.isArray(shape.coordinates) && shape.coordinates.length >= 2) {
    const line = shape.coordinates;
    const middle = Math.floor((line.length - 1) / 2);
    const [a, b] = [line[middle], line[middle + 1]];
    return L.latLng((a[1] + b[1]) / 2, (a[0] + b[0]) / 2);
  }
  return layer.getBounds().getCenter();
}

export class GeofenceLayer {
  /** `onPick(id)` runs when a geofence is clicked while `pickable()` says so (the editor's tab is open). */
  constructor(map, { onPick = () => {}, pickable = () => false } = {}) {
    this.map = map;
    this.onPick = onPick;
    this.pickable = pickable;
    this.group = L.layerGroup();
    this.features = [];
    this.layers = new Map();
    this.selectedId = null;
  }

  /** Redraws from a GeoJSON FeatureCollection (GET /api/v1/geofences). */
  setData(collection) {
    this.features = Array.isArray(collection?.features) ? collection.features : [];
    this.group.clearLayers();
    this.layers.clear();
    // Big areas first so smaller ones stay on top and hoverable.
    const order = { service_area: 0, speed_zone: 1, hospital_area: 2, station: 3, restricted_zone: 4, scene: 5 };
    const features = [...this.features].sort((a, b) => (order[a.properties?.kind] ?? 0) - (order[b.properties?.kind] ?? 0));
    L.geoJSON(
      { type: 'FeatureCollection', features },
      {
        pane: 'geofences',
        style: (feature) => ({ ...(STYLES[feature.properties?.kind] ?? OTHER_STYLE), className: 'geofence' }),
        interactive: true,
        onEachFeature: (feature, layer) => this.decorate(feature, layer),
      },
    ).addTo(this.group);
  }

  decorate(feature, layer) {
    const props = feature.properties ?? {};
    const kind = GEOFENCE_KINDS.includes(props.kind) ? props.kind : 'other';
    // The service area covers the city: no tooltip that would follow the pointer everywhere.
    if (kind !== 'service_area') {
      layer.bindTooltip(() => this.tooltip(props), { sticky: true, className: 'geofence-tip' });
    } else {
      layer.options.interactive = false;
    }
    const id = props.id ?? feature.id;
    this.layers.set(id, layer);
    layer.on('click', () => {
      if (this.pickable()) this.onPick(id);
    });
    layer.on('add', () => {
      const element = layer.getElement();
      if (!element) return;
      setData(element, 'geofenceId', String(id ?? ''));
      setData(element, 'kind', kind);
      element.classList.toggle('is-selected', id === this.selectedId);
    });
    if (kind === 'speed_zone' && Number.isFinite(props.speed_limit_kmh)) {
      const size = 30;
      const icon = L.divIcon({
        className: 'speed-sign',
        html: '',
        iconSize: [size, size],
        iconAnchor: [size / 2, size / 2],
      });
      // Added once the polygon has bounds; the sign text is set as text, never as HTML.
      layer.on('add', () => {
        if (layer.speedSign) return;
        layer.speedSign = L.marker(labelPoint(feature, layer), { icon, pane: 'geofences', interactive: false, keyboard: false });
        layer.speedSign.on('add', () => {
          const element = layer.speedSign.getElement();
          element.replaceChildren(h('span', { text: String(Math.round(props.speed_limit_kmh)) }));
          setData(element, 'geofenceId', String(props.id ?? ''));
        });
        layer.speedSign.addTo(this.group);
      });
    }
  }

  /** Outlines one geofence (null clears). */
  select(id) {
    this.selectedId = id;
    for (const [key, layer] of this.layers) {
      const element = layer.getElement?.();
      if (element) element.classList.toggle('is-selected', key === id);
      if (key === id) layer.bringToFront?.();
    }
  }

  bounds(id) {
    return this.layers.get(id)?.getBounds?.() ?? null;
  }

  feature(id) {
    return this.features.find((feature) => (feature.properties?.id ?? feature.id) === id) ?? null;
  }

  tooltip(props) {
    const limit = Number.isFinite(props.speed_limit_kmh) ? t('geofence.limit', { n: Math.round(props.speed_limit_kmh) }) : null;
    return h(
      'div',
      {},
      h('strong', { text: props.name || '—' }),
      h('div', { text: kindLabel(props.kind) }),
      limit ? h('div', { text: limit }) : null,
    );
  }
}
