/** The fleet on the dispatcher's screen: the store, the markers and the list, kept in step. */

import { AuthError } from './api.js';
import { ambState } from './dispatcher_state.js';
import { FleetStore } from './fleet.js';
import { FleetPanel } from './panel.js';
import { ThrottledTask } from './throttle.js';
import { VehicleLayer } from './vehicles.js';

const REFETCH_MIN_INTERVAL_MS = 5000;

export class FleetView {
  /**
   * `offlineAfterS()`: the configured silence before a vehicle is disconnected. Callbacks:
   * `onSelect(id, { pan })`, `onJourney(id)`, `onListChanged()` (after a whole list),
   * `onMoved(id)` (a new current position), `onAuthError()`.
   */
  constructor({ client, offlineAfterS, onSelect, onJourney, onListChanged, onMoved, onAuthError, detailExtra = null }) {
    this.client = client;
    this.offlineAfterS = offlineAfterS;
    this.onSelect = onSelect;
    this.onListChanged = onListChanged;
    this.onMoved = onMoved;
    this.onAuthError = onAuthError;
    this.store = new FleetStore();
    this.layer = null;
    this.stopped = false;
    this.refetch = new ThrottledTask(() => this.reload(), REFETCH_MIN_INTERVAL_MS);
    this.view = (id) => {
      const now = Date.now();
      return { age: this.store.ageSeconds(id, now), freshness: this.store.freshness(id, now, this.offlineAfterS()) };
    };
    this.panel = new FleetPanel({
      onSelect: (id) => onSelect(id, { pan: true }),
      onFit: () => this.layer?.fitAll(),
      onJourney,
      detailExtra,
    });
  }

  /** Puts the markers on `map`; a marker click selects its vehicle without panning. */
  attach(map) {
    this.layer = new VehicleLayer(map, { onSelect: (id) => this.onSelect(id, { pan: false }) });
    return this.layer;
  }

  vehicle(id) {
    return this.store.vehicles.get(id);
  }

  /** Applies an authoritative vehicle list (snapshot or GET /vehicles). */
  applyList(list) {
    const now = Date.now();
    this.store.replaceAll(list, now);
    this.layer.retainOnly(new Set(this.store.vehicles.keys()));
    for (const vehicle of this.store.vehicles.values()) {
      this.layer.sync(vehicle, this.view(vehicle.id).freshness, { animate: true });
    }
    this.panel.syncAll(this.store.sorted());
    ambState.vehicles = Object.fromEntries(this.store.vehicles);
    this.onListChanged();
  }

  applyFixes(fixes) {
    const now = Date.now();
    let unknown = false;
    for (const fix of fixes) {
      const { kind, vehicle } = this.store.applyFix(fix, now);
      if (kind === 'unknown') {
        unknown = true;
      } else if (kind === 'moved') {
        this.layer.sync(vehicle, this.view(vehicle.id).freshness, { animate: true });
        this.panel.updateVehicle(vehicle);
        this.onMoved(vehicle.id);
      } else if (kind === 'late') {
        this.layer.addTrailPoint(vehicle.id, fix);
      }
    }
    ambState.fixesReceived = this.store.fixesReceived;
    if (unknown) this.refetch.request();
  }

  /** Reloads the vehicle list (a fix or event named an unknown vehicle or journey); at most once per 5 s. */
  async reload() {
    try {
      const vehicles = await this.client.vehicles();
      if (!this.stopped) this.applyList(vehicles);
    } catch (error) {
      if (error instanceof AuthError) this.onAuthError();
      else console.warn('vehicle list refetch failed', error);
    }
  }

  /** The vehicle takes a new status (and open journey, null once it closes). */
  applyStatus(vehicleId, status, journeyId) {
    const vehicle = this.store.applyStatus(vehicleId, status, journeyId);
    if (!vehicle) {
      this.refetch.request();
      return;
    }
    // A list fetched before this change must not put the old status back.
    if (this.refetch.running) this.refetch.request();
    this.layer?.setStatus(vehicle.id, vehicle.status);
    this.panel.updateVehicle(vehicle);
    this.panel.summariseStatuses();
    this.panel.applyFilter();
  }

  /** The tracker was heard without a position (`device_online` without a GPS fix). */
  heard(vehicleId) {
    this.store.heard(vehicleId, Date.now());
  }

  /** Highlights a vehicle (null: none) on the map and in the list. */
  select(id, { pan = false, scroll = false } = {}) {
    this.layer?.select(id);
    this.panel.select(id, { scroll });
    if (pan && id !== null) this.layer?.panTo(id);
  }

  /** Once a second: ages and freshness colours. */
  tick(now) {
    if (!this.layer) return;
    this.store.refreshAges(now);
    for (const id of this.store.vehicles.keys()) this.layer.setFreshness(id, this.view(id).freshness);
    this.panel.tick(this.view);
  }

  relabel() {
    this.layer?.relabel();
    this.panel.relabel(this.view);
  }

  stop() {
    this.stopped = true;
    this.refetch.cancel();
  }
}
