/** Dispatcher page entry point: checks the token, loads the base map, then follows the live fleet. */

import { showAccessRequired } from './access.js';
import { AuthError, createApiClient } from './api.js';
import { takeTokenFromUrl } from './auth.js';
import { byId } from './dom.js';
import { FleetStore, STALE_AFTER_S } from './fleet.js';
import { bindLanguageToggle, renderClock, renderConnection } from './header.js';
import { initLang, onLangChange, lang } from './i18n.js';
import { HospitalLayer, Legend, addRoads, createMap } from './map.js';
import { FleetPanel } from './panel.js';
import { FleetStream, backoffDelay } from './stream.js';
import { VehicleLayer } from './vehicles.js';

const DEFAULT_CONFIG = {
  tile_url: '',
  tile_attribution: '',
  map_center: [16.06, 108.215],
  map_zoom: 14,
  offline_after_s: 90,
};
const REFETCH_MIN_INTERVAL_MS = 5000;

/** Test hook (the only global): latest vehicle records by id, fixes counted, stream state. */
const ambState = { vehicles: {}, fixesReceived: 0, connected: false, connection: 'connecting', lang: 'vi' };
window.ambState = ambState;

function isFiniteNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Fills gaps in /api/v1/config with defaults so a partial config still gives a usable map. */
function normaliseConfig(raw) {
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

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The running console: owns the store, the map layers, the panel and the stream. */
class DispatcherConsole {
  constructor(client) {
    this.client = client;
    this.store = new FleetStore();
    this.config = DEFAULT_CONFIG;
    this.loaded = { config: false, roads: false, snapshot: false };
    this.connection = { state: 'connecting', retryAt: 0 };
    this.failing = new Set();
    this.refetch = { pending: false, lastAt: 0 };
    this.vehicleLayer = null;
    this.legend = null;
    this.stream = null;
    this.stopped = false;
    this.view = (id) => {
      const now = Date.now();
      return {
        age: this.store.ageSeconds(id, now),
        freshness: this.store.freshness(id, now, this.config.offline_after_s),
      };
    };
    this.panel = new FleetPanel({
      onSelect: (id) => this.select(id, { pan: true }),
      onFit: () => this.vehicleLayer?.fitAll(),
    });
  }

  async start() {
    this.config = normaliseConfig(await this.withRetry('config', () => this.client.config()));
    this.loaded.config = true;
    const map = createMap(byId('map'), this.config);
    this.vehicleLayer = new VehicleLayer(map, { onSelect: (id) => this.select(id, { pan: false }) });
    this.legend = new Legend(map, { offlineAfterS: this.config.offline_after_s, staleAfterS: STALE_AFTER_S });
    this.stream = new FleetStream({
      url: () => this.client.streamUrl(),
      onMessage: (message) => this.receive(message),
      onStatus: (status) => this.setConnection(status),
      checkAuth: () => this.tokenAccepted(),
    });
    this.stream.start();
    await Promise.all([this.loadRoads(map), this.loadHospitals(map)]);
  }

  async loadRoads(map) {
    const roads = await this.withRetry('roads', () => this.client.roads());
    addRoads(map, roads, { withTiles: Boolean(this.config.tile_url) });
    this.loaded.roads = true;
    this.markReadyIfLoaded();
  }

  async loadHospitals(map) {
    const hospitals = await this.withRetry('hospitals', () => this.client.hospitals());
    new HospitalLayer(map, hospitals);
  }

  /** Retries a load with backoff, showing the error banner meanwhile; auth failures propagate. */
  async withRetry(label, task) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const result = await task();
        this.failing.delete(label);
        byId('load-error').hidden = this.failing.size === 0;
        return result;
      } catch (error) {
        if (error instanceof AuthError || this.stopped) throw error;
        console.warn(`load ${label} failed`, error);
        this.failing.add(label);
        byId('load-error').hidden = false;
        await sleep(backoffDelay(attempt));
      }
    }
  }

  /** Asked by the stream after a failed handshake: false when the API refuses the token. */
  async tokenAccepted() {
    try {
      await this.client.config();
      return true;
    } catch (error) {
      return !(error instanceof AuthError);
    }
  }

  receive(message) {
    if (message.type === 'snapshot') {
      this.applyFleet(Array.isArray(message.vehicles) ? message.vehicles : []);
      this.loaded.snapshot = true;
      this.markReadyIfLoaded();
    } else if (message.type === 'fixes') {
      this.applyFixes(Array.isArray(message.fixes) ? message.fixes : []);
    }
    // 'heartbeat' only proves the connection is alive; the stream's silence timer uses it.
  }

  /** Applies an authoritative vehicle list (snapshot or GET /vehicles). */
  applyFleet(list) {
    const now = Date.now();
    this.store.replaceAll(list, now);
    this.vehicleLayer.retainOnly(new Set(this.store.vehicles.keys()));
    for (const vehicle of this.store.vehicles.values()) {
      this.vehicleLayer.sync(vehicle, this.view(vehicle.id).freshness, { animate: true });
    }
    this.panel.syncAll(this.store.sorted());
    ambState.vehicles = Object.fromEntries(this.store.vehicles);
    this.tick();
  }

  applyFixes(fixes) {
    const now = Date.now();
    let unknown = false;
    for (const fix of fixes) {
      const { kind, vehicle } = this.store.applyFix(fix, now);
      if (kind === 'unknown') {
        unknown = true;
      } else if (kind === 'moved') {
        this.vehicleLayer.sync(vehicle, this.view(vehicle.id).freshness, { animate: true });
        this.panel.updateVehicle(vehicle);
      } else if (kind === 'late') {
        this.vehicleLayer.addTrailPoint(vehicle.id, fix);
      }
    }
    ambState.fixesReceived = this.store.fixesReceived;
    if (unknown) this.refetchVehicles();
  }

  /** A fix named a vehicle we do not know: reload the list, at most once per 5 s. */
  refetchVehicles() {
    if (this.refetch.pending) return;
    this.refetch.pending = true;
    const wait = Math.max(0, this.refetch.lastAt + REFETCH_MIN_INTERVAL_MS - Date.now());
    setTimeout(async () => {
      this.refetch.lastAt = Date.now();
      try {
        const vehicles = await this.client.vehicles();
        if (!this.stopped) this.applyFleet(vehicles);
      } catch (error) {
        if (error instanceof AuthError) this.deny();
        else console.warn('vehicle list refetch failed', error);
      } finally {
        this.refetch.pending = false;
      }
    }, wait);
  }

  select(id, { pan }) {
    this.vehicleLayer?.select(id);
    // A row click pans the map to the vehicle; a marker click scrolls the list to its row.
    this.panel.select(id, { scroll: !pan });
    if (pan && id !== null) this.vehicleLayer?.panTo(id);
    this.tick();
  }

  setConnection(status) {
    this.connection = status;
    ambState.connected = status.state === 'connected';
    ambState.connection = status.state;
    renderConnection(status);
    if (status.state === 'auth') this.deny();
  }

  markReadyIfLoaded() {
    if (this.loaded.config && this.loaded.roads && this.loaded.snapshot) document.body.dataset.ready = '1';
  }

  /** Once a second: ages, freshness colours, countdowns. */
  tick() {
    if (this.stopped) return;
    const now = Date.now();
    renderConnection(this.connection, now);
    if (!this.vehicleLayer) return;
    this.store.refreshAges(now);
    for (const id of this.store.vehicles.keys()) this.vehicleLayer.setFreshness(id, this.view(id).freshness);
    this.panel.tick(this.view);
  }

  relabel() {
    renderConnection(this.connection);
    this.vehicleLayer?.relabel();
    this.legend?.relabel();
    this.panel.relabel(this.view);
  }

  /** The token was refused: stop everything and show the access screen. */
  deny() {
    if (this.stopped) return;
    this.stopped = true;
    this.stream?.stop();
    ambState.connected = false;
    ambState.connection = 'auth';
    renderConnection({ state: 'auth', retryAt: 0 });
    showAccessRequired('denied');
  }
}

function main() {
  initLang();
  ambState.lang = lang();
  const markToggle = bindLanguageToggle();
  const clockTick = () => renderClock(new Date());
  clockTick();
  setInterval(clockTick, 1000);

  const token = takeTokenFromUrl();
  if (!token) {
    ambState.connection = 'auth';
    renderConnection({ state: 'auth', retryAt: 0 });
    showAccessRequired('missing');
    onLangChange(() => {
      markToggle();
      renderConnection({ state: 'auth', retryAt: 0 });
    });
    return;
  }
  const dispatcher = new DispatcherConsole(createApiClient(token));
  onLangChange(() => {
    ambState.lang = lang();
    markToggle();
    clockTick();
    dispatcher.relabel();
  });
  renderConnection(dispatcher.connection);
  setInterval(() => dispatcher.tick(), 1000);
  dispatcher.start().catch((error) => {
    if (error instanceof AuthError) dispatcher.deny();
    else console.error('dispatcher console failed to start', error);
  });
}

main();
