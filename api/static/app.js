/** Dispatcher page entry point: checks the token, loads the base map, then follows the live fleet and its events. */

import { showAccessRequired } from './access.js';
import { Alerts } from './alerts.js';
import { AuthError } from './api.js';
import { DEFAULT_CONFIG, normaliseConfig } from './config.js';
import { byId } from './dom.js';
import { ambState } from './dispatcher_state.js';
import { STALE_AFTER_S } from './fleet.js';
import { FleetView } from './fleet_view.js';
import { parseTime } from './format.js';
import { renderConnection } from './header.js';
import { lang, onLangChange } from './i18n.js';
import { JourneyActions } from './journey_actions.js';
import { CrewCodeCard } from './crew_code.js';
import { JourneyBoard } from './journey_board.js';
import { JourneyHistory } from './journey_history.js';
import { Loader } from './loader.js';
import { HospitalLayer, Legend, OverlaySwitch, addRoads, createMap, pingAt } from './map.js';
import { MapTools } from './map_tools.js';
import { openSessionWithRetry, startHeader } from './page_start.js';
import { noteServerTime } from './server_clock.js';
import { PAGES, canEdit, goToLogin } from './session.js';
import { isClosedJourneyStatus, vehicleStatusAfter } from './status.js';
import { FleetStream } from './stream.js';
import { Tabs } from './tabs.js';
import { UserMenu } from './user_menu.js';

const EVENTS_AT_START = 100;
const PERIODIC_REFRESH_MS = 60 * 1000; // unit status changes (out of service) raise no event
const GEOFENCE_REFRESH_MS = 5 * 60 * 1000;

/** The running console: owns the fleet view, the journeys, the alerts, the map tools and the stream. */
class DispatcherConsole {
  /** `session` is { mode, client, user } from openSession(). */
  constructor(client, { session }) {
    this.client = client;
    this.session = session;
    this.editor = canEdit(session.user);
    this.config = DEFAULT_CONFIG;
    this.loaded = { config: false, roads: false, snapshot: false };
    this.connection = { state: 'connecting', retryAt: 0 };
    this.loader = new Loader({ stopped: () => this.stopped });
    this.hospitals = new Map();
    this.snapshots = 0;
    this.map = null;
    this.tools = null;
    this.legend = null;
    this.overlays = null;
    this.stream = null;
    this.stopped = false;
    this.timers = [];
    this.crewCode = new CrewCodeCard({ client, editor: this.editor, onAuthError: () => this.deny() });
    this.fleet = new FleetView({
      client,
      detailExtra: this.crewCode,
      offlineAfterS: () => this.config.offline_after_s,
      onSelect: (id, { pan }) => this.select(id, { pan }),
      onJourney: (id) => this.selectJourney(id, { pan: true, showTab: true }),
      onListChanged: () => {
        this.journeys.refreshLines();
        this.alerts.relabel();
        this.tick();
      },
      onMoved: (id) => this.journeys.vehicleMoved(id),
      onAuthError: () => this.deny(),
    });
    this.tabs = new Tabs(byId('side-tabs'), {
      onChange: (id) => {
        if (id !== 'tab-geofences') this.tools?.zones.hidden();
      },
    });
    this.actions = new JourneyActions({
      client,
      editor: this.editor,
      hospitals: () => [...this.hospitals.values()],
      onReplay: (journey) => this.openReplay(journey),
      onChanged: (id) => {
        this.journeys.refetch.request();
        this.journeys.panel.refreshDetail(id);
      },
      onAuthError: () => this.deny(),
      siblings: () => Object.values(ambState.journeys ?? {}),
    });
    this.history = new JourneyHistory({ client, onReplay: (journey) => this.openReplay(journey), onAuthError: () => this.deny() });
    this.journeys = new JourneyBoard({
      client,
      actions: this.actions,
      onSelect: (id) => this.selectJourney(id, { pan: true, showTab: true }),
      onChange: (journeys) => {
        ambState.journeys = journeys;
        // Dispatch sentences name the incident's address, known once the journey is.
        this.alerts?.relabel();
        // Another unit sent to the open card's incident: its units row lists it (rebuilt only if changed).
        const open = this.actions.journey;
        if (open) this.actions.show(journeys[open.id] ?? open, { closed: this.actions.closed });
      },
      onEtas: (etas) => {
        ambState.etas = etas;
      },
      onAuthError: () => this.deny(),
    });
    this.alerts = new Alerts({
      names: {
        callSign: (id) => {
          const vehicle = this.fleet.vehicle(id);
          return vehicle ? vehicle.call_sign || vehicle.plate || '' : '';
        },
        hospitalName: (id) => this.hospitalName(id),
        journey: (id) => this.journeys.get(id),
      },
      onPick: (event) => this.pickEvent(event),
      onSound: (state) => {
        ambState.sound = state;
      },
    });
  }

  async start() {
    this.config = normaliseConfig(await this.withRetry('config', () => this.client.config()));
    this.loaded.config = true;
    const map = createMap(byId('map'), this.config);
    this.map = map;
    this.actions.location.attachMap(map);
    this.tools = new MapTools(map, this, (key, state) => {
      ambState[key] = state;
    });
    this.journeys.attachMap(map, {
      vehicle: (id) => this.fleet.vehicle(id),
      hospital: (id) => this.hospitals.get(id),
    });
    const vehicleLayer = this.fleet.attach(map);
    this.legend = new Legend(map, { offlineAfterS: this.config.offline_after_s, staleAfterS: STALE_AFTER_S });
    this.overlays = new OverlaySwitch(map, [
      { key: 'geofences', layer: this.tools.geofenceLayer.group },
      { key: 'journeys', layer: this.journeys.layer.group },
      { key: 'trails', layer: vehicleLayer.trails },
    ]);
    this.stream = new FleetStream({
      url: () => this.client.streamUrl(),
      onMessage: (message) => this.receive(message),
      onStatus: (status) => this.setConnection(status),
      checkAuth: () => this.client.credentialsAccepted(),
    });
    this.stream.start();
    this.timers.push(
      setInterval(() => {
        this.fleet.refetch.request();
        this.journeys.refetch.request();
      }, PERIODIC_REFRESH_MS),
      setInterval(() => this.loadGeofences().catch((error) => this.failedQuietly('geofences', error)), GEOFENCE_REFRESH_MS),
    );
    await Promise.all([
      this.loadRoads(map),
      this.loadHospitals(map),
      this.loadEvents(),
      this.withRetry('journeys', () => this.journeys.load()).then(() => {
        ambState.loaded.journeys = true;
      }),
      this.withRetry('geofences', () => this.loadGeofences()),
    ]);
  }

  async loadRoads(map) {
    const roads = await this.withRetry('roads', () => this.client.roads());
    addRoads(map, roads, { withTiles: Boolean(this.config.tile_url) });
    this.loaded.roads = true;
    this.markReadyIfLoaded();
  }

  async loadHospitals(map) {
    const hospitals = await this.withRetry('hospitals', () => this.client.hospitals());
    this.hospitals = new Map(hospitals.map((hospital) => [hospital.id, hospital]));
    new HospitalLayer(map, hospitals);
    this.journeys.refreshLines();
    this.alerts.relabel();
  }

  hospitalName(id) {
    const hospital = this.hospitals.get(id);
    if (!hospital) return '';
    return lang() === 'en' ? hospital.name_en || hospital.name_vi : hospital.name_vi || hospital.name_en;
  }

  async loadGeofences() {
    this.tools.setGeofences(await this.client.geofences());
    ambState.loaded.geofences = true;
  }

  /** The latest stored events (again after a reconnect: those raised meanwhile were missed). */
  async loadEvents() {
    const events = await this.withRetry('events', () => this.client.events(EVENTS_AT_START));
    this.applyEvents(events, { live: false });
    ambState.loaded.events = true;
  }

  failedQuietly(label, error) {
    if (error instanceof AuthError) this.deny();
    else console.warn(`${label} refresh failed`, error);
  }

  withRetry(label, task) {
    return this.loader.withRetry(label, task);
  }

  receive(message) {
    if (message.type === 'snapshot') {
      this.fleet.applyList(Array.isArray(message.vehicles) ? message.vehicles : []);
      this.snapshots += 1;
      this.loaded.snapshot = true;
      this.markReadyIfLoaded();
      if (this.snapshots > 1) {
        // Reconnected: what happened while the stream was down arrives through the API.
        this.loadEvents().catch((error) => this.failedQuietly('events', error));
        this.journeys.refetch.request();
      }
    } else if (message.type === 'fixes') {
      this.fleet.applyFixes(Array.isArray(message.fixes) ? message.fixes : []);
    } else if (message.type === 'events') {
      this.applyEvents(Array.isArray(message.events) ? message.events : [], { live: true });
    } else if (message.type === 'etas') {
      this.journeys.applyEtas(Array.isArray(message.etas) ? message.etas : []);
    } else if (message.type === 'heartbeat' || message.type === 'pong') {
      // Also proves the connection is alive (the stream's silence timer); its time sets countdowns.
      noteServerTime(message.time);
    }
  }

  /** Whether the zones tab is open (the map then picks geofences). */
  zonesShown() {
    return this.tabs.current === 'tab-geofences';
  }

  /** Replays a journey; its card closes to leave the map to the replay. */
  openReplay(journey) {
    this.selectJourney(null);
    this.tools?.replay.open(journey);
  }

  /** A journey was just created here: show it, its route and its ETA. */
  async dispatched(journey) {
    if (!journey?.id) return;
    try {
      await this.journeys.load();
    } catch (error) {
      this.failedQuietly('journeys', error);
    }
    this.fleet.refetch.request();
    this.selectJourney(journey.id, { pan: true, showTab: true });
  }

  /**
   * Adds events to the feed. Live ones also move vehicles' statuses and journeys, and critical
   * ones sound the alarm; loaded ones are history (the snapshot already holds their effect).
   */
  applyEvents(events, { live }) {
    const added = this.alerts.add(events, { live });
    ambState.events = this.alerts.events;
    if (live) ambState.eventsReceived += added.length;
    if (live) this.actions.location.applyEvents(added);
    const oldestFirst = [...added].sort((a, b) => parseTime(a.at) - parseTime(b.at) || a.id - b.id);
    const statusChanges = oldestFirst.filter((event) => event.kind === 'status_change');
    if (!live) {
      // Loaded after the snapshot: a status may have changed in between.
      if (statusChanges.length && this.snapshots > 0) this.fleet.refetch.request();
      return;
    }
    for (const event of statusChanges) this.applyStatusChange(event);
    for (const event of oldestFirst) {
      if (event.kind === 'device_online' && event.vehicle_id != null) this.fleet.heard(event.vehicle_id);
    }
    if (this.journeys.applyEvents(oldestFirst, (id) => this.hospitals.get(id))) this.fleet.refetch.request();
  }

  /** A journey's status changed: its vehicle takes that status (available once the journey closes). */
  applyStatusChange(event) {
    const to = event.details?.to;
    const closed = isClosedJourneyStatus(to);
    this.fleet.applyStatus(event.vehicle_id, vehicleStatusAfter(to), closed ? null : event.journey_id);
  }

  /** An event was clicked: show where it happened (or where its vehicle is now). */
  pickEvent(event) {
    if (!this.map) return;
    let target = Number.isFinite(event.lat) && Number.isFinite(event.lon) ? [event.lat, event.lon] : null;
    if (!target && event.vehicle_id != null) {
      const at = this.fleet.layer?.latLng(event.vehicle_id);
      if (at) target = [at.lat, at.lng];
    }
    if (!target) return;
    this.map.setView(target, Math.max(this.map.getZoom(), 16), { animate: true });
    pingAt(this.map, target, event.severity);
  }

  select(id, { pan }) {
    if (id !== null) this.journeys.select(null);
    // A row click pans the map to the vehicle; a marker click scrolls the list to its row.
    this.fleet.select(id, { pan, scroll: !pan });
    this.tick();
  }

  /** Shows a journey: its row and card, its vehicle highlighted, the map fitted to it (null closes). */
  selectJourney(id, { pan = false, showTab = false } = {}) {
    const journey = this.journeys.select(id);
    this.fleet.panel.select(null);
    this.fleet.layer?.select(journey ? journey.vehicle_id : null);
    if (!journey) return;
    if (showTab) this.tabs.show('tab-journeys');
    const bounds = pan ? this.journeys.bounds(id) : null;
    if (!bounds || !this.map) return;
    // Keep the journey clear of its card, which covers the map's lower left.
    const card = byId('journey-detail');
    const left = card.hidden ? 24 : card.offsetWidth + 36;
    this.map.fitBounds(bounds, { paddingTopLeft: [left, 48], paddingBottomRight: [48, 48], maxZoom: 16, animate: true });
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
    if (!this.fleet.layer) return;
    this.fleet.tick(now);
    this.journeys.tick(now);
    this.alerts.tick(now);
  }

  relabel() {
    renderConnection(this.connection);
    this.fleet.relabel();
    this.legend?.relabel();
    this.overlays?.relabel();
    this.journeys.relabel();
    this.alerts.relabel();
    this.history.relabel();
    this.tools?.relabel();
  }

  /** The token or session was refused: stop everything; back to the login page (or the key screen). */
  deny() {
    if (this.stopped) return;
    this.stopped = true;
    this.stream?.stop();
    this.fleet.stop();
    this.journeys.stop();
    for (const timer of this.timers) clearInterval(timer);
    ambState.connected = false;
    ambState.connection = 'auth';
    renderConnection({ state: 'auth', retryAt: 0 });
    if (this.session.mode === 'session') goToLogin({ expired: true });
    else showAccessRequired('denied');
  }
}

async function main() {
  const { markToggle, clockTick } = startHeader();
  ambState.lang = lang();

  const session = await openSessionWithRetry();
  ambState.mode = session.mode;
  if (session.mode === 'login') return;
  if (session.mode === 'none') {
    // A server without accounts: ask for an API key, as before.
    ambState.connection = 'auth';
    renderConnection({ state: 'auth', retryAt: 0 });
    showAccessRequired('missing');
    onLangChange(() => {
      markToggle();
      renderConnection({ state: 'auth', retryAt: 0 });
    });
    return;
  }
  if (session.user?.role === 'hospital') {
    // A hospital follows its own inbound ambulances on the board, not the fleet.
    window.location.replace(PAGES.board().toString());
    return;
  }
  ambState.user = session.user;
  document.body.dataset.role = session.user?.role ?? 'unknown';
  document.body.dataset.canEdit = canEdit(session.user) ? '1' : '0';
  const userMenu = new UserMenu(session);
  const dispatcher = new DispatcherConsole(session.client, { session });
  onLangChange(() => {
    ambState.lang = lang();
    markToggle();
    clockTick();
    userMenu.relabel();
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
