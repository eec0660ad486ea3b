/** Base map: Leaflet setup, optional raster tiles, OSM road vectors, hospital markers, legend and layer switch. */

import { h, uiScale } from './dom.js';
import { lang, t } from './i18n.js';
import { UNIT_STATUSES, statusLabel } from './status.js';

const L = window.L;

// Constant markup (no data): the roads are OpenStreetMap data under the ODbL.
export const OSM_ATTRIBUTION =
  '© <a href="https://www.openstreetmap.org/copyright" target="_blank" rel="noopener">OpenStreetMap contributors</a>';

const ROAD_STYLES = {
  primary: { color: '#9fb3cc', weight: 6 },
  secondary: { color: '#75889f', weight: 4 },
  tertiary: { color: '#586a80', weight: 2.5 },
  other: { color: '#4a596b', weight: 1.5 },
};

/**
 * Rebuilds attribution markup from the config keeping only text and http(s) links, so a
 * misconfigured or hostile `tile_attribution` cannot inject markup.
 */
export function sanitiseAttribution(markup) {
  const parsed = new DOMParser().parseFromString(String(markup ?? ''), 'text/html');
  const out = document.createElement('span');
  const dropped = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'IFRAME', 'OBJECT', 'SVG', 'MATH']);
  const copy = (from, to) => {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.append(node.textContent);
      } else if (node.nodeType === Node.ELEMENT_NODE && !dropped.has(node.tagName.toUpperCase())) {
        const href = node.tagName === 'A' ? node.getAttribute('href') ?? '' : '';
        if (/^https?:\/\//i.test(href)) {
          const link = h('a', { href, target: '_blank', rel: 'noopener' });
          copy(node, link);
          to.append(link);
        } else {
          copy(node, to);
        }
      }
    }
  };
  copy(parsed.body, out);
  return out.textContent.trim() ? out.innerHTML : '';
}

/** Creates the Leaflet map in `element` from the API config. */
export function createMap(element, config) {
  const map = L.map(element, {
    center: config.map_center,
    zoom: config.map_zoom,
    minZoom: 10,
    maxZoom: 19,
    zoomSnap: 0.5,
    worldCopyJump: false,
  });
  map.attributionControl.addAttribution(OSM_ATTRIBUTION);
  L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);
  if (config.tile_url) {
    element.classList.add('has-tiles');
    const attribution = sanitiseAttribution(config.tile_attribution);
    L.tileLayer(config.tile_url, { attribution: attribution || undefined, maxZoom: 19 }).addTo(map);
  }
  // Above the roads (overlay pane, 400) and below the vehicles (marker pane, 600).
  map.createPane('geofences').style.zIndex = '405';
  map.createPane('journeys').style.zIndex = '450';
  map.createPane('hospitals').style.zIndex = '590';
  map.createPane('incidents').style.zIndex = '595';
  return map;
}

function roadStyle(feature, withTiles) {
  const style = ROAD_STYLES[feature.properties?.highway] ?? ROAD_STYLES.other;
  return { ...style, opacity: withTiles ? 0.35 : 0.95, lineCap: 'round', lineJoin: 'round' };
}

function roadTooltip(feature) {
  const { name, oneway } = feature.properties ?? {};
  return h('div', {}, h('strong', { text: name || '—' }), oneway ? h('div', { text: t('road.oneway') }) : null);
}

/** Draws the road network (GeoJSON LineStrings) as vectors on a canvas, primary roads thickest. */
export function addRoads(map, geojson, { withTiles = false } = {}) {
  // Draw thinner classes first so primary roads sit on top at junctions.
  const order = { primary: 3, secondary: 2, tertiary: 1 };
  const rank = (feature) => order[feature.properties?.highway] ?? 0;
  const features = [...(geojson?.features ?? [])].sort((a, b) => rank(a) - rank(b));
  return L.geoJSON(
    { type: 'FeatureCollection', features },
    {
      renderer: L.canvas({ padding: 0.3 }),
      style: (feature) => roadStyle(feature, withTiles),
      onEachFeature: (feature, road) => {
        if (feature.properties?.name) {
          road.bindTooltip(() => roadTooltip(feature), { sticky: true, className: 'road-tip' });
        }
      },
    },
  ).addTo(map);
}

/** Hospital markers: a red cross; a filled red square where the hospital runs an emergency department. */
export class HospitalLayer {
  constructor(map, hospitals) {
    this.group = L.layerGroup().addTo(map);
    for (const hospital of hospitals) {
      if (!Number.isFinite(hospital.lat) || !Number.isFinite(hospital.lon)) continue;
      const emergency = Boolean(hospital.has_emergency);
      const size = Math.round((emergency ? 24 : 18) * uiScale());
      const icon = L.divIcon({
        className: `hospital-icon ${emergency ? 'hospital-ed' : 'hospital-other'}`,
        html: '<span class="hospital-cross" aria-hidden="true"></span>',
        iconSize: [size, size],
        iconAnchor: [size / 2, size / 2],
      });
      L.marker([hospital.lat, hospital.lon], { icon, pane: 'hospitals', keyboard: false })
        .bindTooltip(() => this.tooltip(hospital), { direction: 'top', offset: [0, -size / 2], className: 'hospital-tip' })
        .addTo(this.group);
    }
  }

  tooltip(hospital) {
    const name = lang() === 'en' ? hospital.name_en || hospital.name_vi : hospital.name_vi || hospital.name_en;
    return h(
      'div',
      {},
      h('strong', { text: name ?? '' }),
      h('div', { text: hospital.has_emergency ? t('hospital.ed') : t('hospital.noEd') }),
    );
  }
}

/** The map legend (bottom right), folding away on small screens; `relabel()` after a language change. */
export class Legend {
  constructor(map, { offlineAfterS, staleAfterS }) {
    this.offlineAfterS = offlineAfterS;
    this.staleAfterS = staleAfterS;
    this.title = h('summary', { class: 'legend-title' });
    this.content = h('div', { class: 'legend-body' });
    this.body = h('details', { class: 'legend', id: 'map-legend' }, this.title, this.content);
    this.body.open = window.innerHeight >= 1200 && window.innerWidth >= 1200;
    const control = L.control({ position: 'bottomright' });
    control.onAdd = () => {
      L.DomEvent.disableScrollPropagation(this.body);
      L.DomEvent.disableClickPropagation(this.body);
      return this.body;
    };
    control.addTo(map);
    this.relabel();
  }

  relabel() {
    const row = (swatchClass, text, data = {}) =>
      h('li', {}, h('span', { class: `legend-swatch ${swatchClass}`, dataset: data }), text);
    this.title.textContent = t('legend.title');
    this.content.replaceChildren(
      h('strong', { text: t('legend.statuses') }),
      h('ul', {}, UNIT_STATUSES.map((status) => row('swatch-status', statusLabel(status), { status }))),
      h('strong', { text: t('legend.signal') }),
      h(
        'ul',
        {},
        row('swatch-fresh', t('legend.fresh', { n: this.staleAfterS })),
        row('swatch-stale', t('legend.stale', { n: this.staleAfterS })),
        row('swatch-nofix', t('legend.nofix')),
        row('swatch-offline', t('legend.offline', { n: this.offlineAfterS })),
      ),
      h('strong', { text: t('legend.places') }),
      h(
        'ul',
        {},
        row('swatch-incident', t('legend.incident')),
        row('swatch-hospital-ed', t('legend.hospitalEd')),
        row('swatch-hospital', t('legend.hospital')),
        row('swatch-restricted', t('legend.restricted')),
        row('swatch-speed', t('legend.speedZone')),
      ),
    );
  }
}

/** The layer switch (top right): overlays the dispatcher may hide; names re-translated on relabel(). */
export class OverlaySwitch {
  /** `overlays`: [{ key, layer }] where `overlay.<key>` names it. */
  constructor(map, overlays) {
    this.map = map;
    this.overlays = overlays;
    this.control = null;
    this.relabel();
  }

  relabel() {
    this.control?.remove();
    // Leaflet writes these names as markup: they are constant UI strings, never data.
    const named = Object.fromEntries(this.overlays.map(({ key, layer }) => [t(`overlay.${key}`), layer]));
    this.control = L.control.layers(null, named, { position: 'topright', collapsed: window.innerWidth < 900 });
    this.control.addTo(this.map);
    const container = this.control.getContainer();
    container.id = 'layer-switch';
    container.setAttribute('aria-label', t('overlay.title'));
  }
}

/** A few seconds' pulse where something happened (an event was clicked in the feed). */
export function pingAt(map, latLng, severity = 'info') {
  const size = Math.round(72 * uiScale());
  const icon = L.divIcon({ className: 'event-ping', html: '', iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
  const marker = L.marker(latLng, { icon, pane: 'incidents', interactive: false, keyboard: false }).addTo(map);
  marker.getElement().dataset.severity = severity;
  setTimeout(() => marker.remove(), 6000);
}
