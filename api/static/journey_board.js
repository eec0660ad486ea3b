/** Open journeys on the page: their store, the "Hành trình" tab, the map layer, and keeping them current. */

import { AuthError } from './api.js';
import { JourneyLayer } from './journey_layer.js';
import { JourneyPanel } from './journey_panel.js';
import { JourneyRoutes } from './journey_routes.js';
import { JourneyStore } from './journeys.js';
import { isClosedJourneyStatus } from './status.js';
import { ThrottledTask } from './throttle.js';

const REFETCH_MIN_INTERVAL_MS = 2000;

export class JourneyBoard {
  /**
   * `onSelect(id)` runs when a journey row or incident is clicked (null closes);
   * `onChange(journeysById)` after every change; `onEtas(etasById)` when an ETA or route changes;
   * `onAuthError()` when the API refuses the token; `actions` renders the journey card's buttons.
   */
  constructor({ client, onSelect, onChange, onEtas = () => {}, onAuthError, actions = null }) {
    this.client = client;
    this.onSelect = onSelect;
    this.onChange = onChange;
    this.onEtas = onEtas;
    this.onAuthError = onAuthError;
    this.store = new JourneyStore();
    this.panel = new JourneyPanel({
      onSelect,
      loadDetail: (id) => client.journey(id),
      etaOf: (id) => this.routes?.etaOf(id) ?? null,
      actions,
    });
    this.layer = null;
    this.routes = null;
    this.loaded = false;
    this.refetch = new ThrottledTask(() => this.reload(), REFETCH_MIN_INTERVAL_MS);
  }

  /** Draws the journeys on the map; `vehicle(id)` and `hospital(id)` give positions. */
  attachMap(map, { vehicle, hospital }) {
    this.vehicle = vehicle;
    this.layer = new JourneyLayer(map, { vehicle, hospital, onSelect: this.onSelect, routed: (id) => this.routes.has(id) });
    this.routes = new JourneyRoutes(map, {
      client: this.client,
      group: this.layer.group,
      onChange: () => {
        this.layer.refreshLines();
        this.onEtas(this.routes.toObject());
      },
      onAuthError: this.onAuthError,
    });
    this.render();
  }

  /** `etas` messages from the stream. */
  applyEtas(etas) {
    this.routes?.applyEtas(etas);
    this.panel.tick();
  }

  /** GET /journeys?open=true; throws on failure (the first load retries). */
  async load() {
    const list = await this.client.openJourneys();
    this.store.replaceAll(list);
    this.loaded = true;
    this.render();
  }

  /** A throttled refetch's body: failures are logged, a refused token stops the page. */
  async reload() {
    try {
      await this.load();
    } catch (error) {
      if (error instanceof AuthError) this.onAuthError();
      else console.warn('journey list refetch failed', error);
    }
  }

  render() {
    const journeys = this.store.sorted();
    this.panel.sync(journeys);
    this.routes?.sync(journeys);
    this.layer?.sync(journeys);
    this.onChange(this.store.toObject());
  }

  /**
   * Applies live status_change / destination_changed events at once, then refetches the list
   * (throttled) to confirm. Returns true when an event named an open journey the page lacks.
   */
  applyEvents(events, hospital) {
    let touched = false;
    let unknown = false;
    for (const event of events) {
      if (event.kind === 'status_change') {
        touched = true;
        const known = this.store.applyStatusChange(event);
        if (!known && !isClosedJourneyStatus(event.details?.to)) unknown = true;
        this.panel.refreshDetail(event.journey_id);
      } else if (event.kind === 'destination_changed') {
        touched = true;
        this.store.applyDestinationChange(event, hospital);
        this.panel.refreshDetail(event.journey_id);
      }
    }
    if (touched) {
      this.render();
      this.refetch.request();
    }
    return unknown;
  }

  get(id) {
    return this.store.get(id);
  }

  /** Highlights one journey in the list and on the map (null clears); returns it. */
  select(id) {
    this.panel.select(id);
    this.layer?.select(id);
    this.routes?.select(id);
    return this.store.get(id) ?? null;
  }

  bounds(id) {
    const bounds = this.layer?.bounds(id) ?? null;
    const route = this.routes?.bounds(id);
    return bounds && route ? bounds.extend(route) : bounds;
  }

  vehicleMoved(vehicleId) {
    this.routes?.vehicleMoved(vehicleId, this.vehicle?.(vehicleId)?.position);
    this.layer?.vehicleMoved(vehicleId);
  }

  refreshLines() {
    this.layer?.refreshLines();
  }

  tick(nowMs) {
    this.panel.tick(nowMs);
    this.routes?.refreshLabel();
  }

  relabel() {
    this.panel.relabel();
  }

  stop() {
    this.refetch.cancel();
  }
}
