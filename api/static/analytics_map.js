/** The analytics map: incidents coloured by response time, each station's road-time reach, and the gaps. */

import { h } from './dom.js';
import { t } from './i18n.js';
import { HospitalLayer, addRoads, createMap } from './map.js';
import { COLOURS, responseColour } from './analytics_charts.js';

export class AnalyticsMap {
  constructor(element, legend, config) {
    this.map = createMap(element, { ...config, map_zoom: Math.max(12, config.map_zoom - 0.5) });
    this.legend = legend;
    this.incidents = window.L.layerGroup().addTo(this.map);
    this.reach = window.L.layerGroup().addTo(this.map);
    this.renderer = window.L.canvas({ padding: 0.3 });
    this.coverage = null;
  }

  roads(geojson, withTiles) {
    addRoads(this.map, geojson, { withTiles });
  }

  hospitals(list) {
    new HospitalLayer(this.map, list.filter((x) => x.has_emergency));
  }

  showIncidents(collection) {
    const L = window.L;
    this.incidents.clearLayers();
    for (const feature of collection.features ?? []) {
      const [lon, lat] = feature.geometry.coordinates;
      const seconds = feature.properties.response_s;
      const colour = responseColour(seconds == null ? null : seconds / 60);
      L.circleMarker([lat, lon], { renderer: this.renderer, radius: 3.5, stroke: false, fillColor: colour, fillOpacity: 0.75 }).addTo(this.incidents);
    }
  }

  showReach(reach) {
    const L = window.L;
    this.reach.clearLayers();
    this.coverage = reach;
    for (const station of reach.stations ?? []) {
      if (station.hull) L.geoJSON(station.hull, { style: { color: '#7cc0ff', weight: 1.5, fillColor: '#7cc0ff', fillOpacity: 0.08 } }).addTo(this.reach);
      L.circleMarker([station.lat, station.lon], { radius: 7, color: '#fff', weight: 2, fillColor: '#0072b2', fillOpacity: 1 })
        .bindTooltip(station.name)
        .addTo(this.reach);
    }
    const gaps = reach.gaps?.points?.coordinates ?? [];
    for (const [lon, lat] of gaps) {
      L.circleMarker([lat, lon], { renderer: this.renderer, radius: 2.5, color: COLOURS.slow, weight: 1, fill: false }).addTo(this.reach);
    }
    this.relabel();
  }

  relabel() {
    const swatch = (colour, text, ring = false) =>
      h('span', {}, h('span', { class: 'swatch', style: ring ? `border: 2px solid ${colour}` : `background: ${colour}` }), text);
    const items = [
      swatch(COLOURS.fast, t('an.legendFast')),
      swatch(COLOURS.mid, t('an.legendMid')),
      swatch(COLOURS.slow, t('an.legendSlow')),
      swatch('#7cc0ff', t('an.legendReach'), true),
      swatch(COLOURS.slow, t('an.legendGap'), true),
    ];
    if (this.coverage?.covered_share != null) {
      const p = `${Math.round(this.coverage.covered_share * 100)} %`;
      items.push(h('span', { id: 'reach-summary', text: t('an.reachSummary', { p, g: this.coverage.gaps?.junctions ?? 0 }) }));
    }
    this.legend.replaceChildren(...items);
  }
}
