/** Base map: Leaflet setup, optional raster tiles, OSM road vectors, hospital markers and legend. */

import { h, uiScale } from './dom.js';
import { lang, t } from './i18n.js';

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
  map.createPane('hospitals').style.zIndex = '590';
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

/** The map legend (bottom right); `relabel()` after a language change. */
export class Legend {
  constructor(map, { offlineAfterS, staleAfterS }) {
    this.offlineAfterS = offlineAfterS;
    this.staleAfterS = staleAfterS;
    this.body = h('div', { class: 'legend', id: 'map-legend' });
    const control = L.control({ position: 'bottomright' });
    control.onAdd = () => this.body;
    control.addTo(map);
    this.relabel();
  }

  relabel() {
    const row = (swatchClass, text) => h('li', {}, h('span', { class: `legend-swatch ${swatchClass}` }), text);
    this.body.replaceChildren(
      h('strong', { text: t('legend.title') }),
      h(
        'ul',
        {},
        row('swatch-fresh', t('legend.fresh', { n: this.staleAfterS })),
        row('swatch-stale', t('legend.stale', { n: this.staleAfterS })),
        row('swatch-offline', t('legend.offline', { n: this.offlineAfterS })),
        row('swatch-hospital-ed', t('legend.hospitalEd')),
        row('swatch-hospital', t('legend.hospital')),
      ),
    );
  }
}
