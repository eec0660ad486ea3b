/** The page's configuration from GET /api/v1/config, with defaults for anything missing. */

export const DEFAULT_CONFIG = {
  tile_url: '',
  tile_attribution: '',
  map_center: [16.06, 108.215],
  map_zoom: 14,
  offline_after_s: 90,
};

function isFiniteNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Fills gaps in /api/v1/config with defaults so a partial config still gives a usable map. */
export function normaliseConfig(raw) {
  const config = { ...DEFAULT_CONFIG };
  if (!raw || typeof raw !== 'object') return config;
  if (typeof raw.tile_url === 'string') config.tile_url = raw.tile_url.trim();
  if (typeof raw.tile_attribution === 'string') config.tile_attribution = raw.tile_attribution;
  if (Array.isArray(raw.map_center) && raw.map_center.length === 2 && raw.map_center.every(isFiniteNumber)) {
    config.map_center = raw.map_center;
  }
  if (isFiniteNumber(raw.map_zoom)) config.map_zoom = raw.map_zoom;
  if (isFiniteNumber(raw.offline_after_s) && raw.offline_after_s > 0) config.offline_after_s = raw.offline_after_s;
  return config;
}
