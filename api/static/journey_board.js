/** Open journeys on the page: their store, the "Hành trình" tab, the map layer, and keeping them current. */

import { AuthError } from './api.js';
import { JourneyLayer } from './journey_layer.js';
import { JourneyPanel } from './journey_panel.js';
import { JourneyStore } from './journeys.js';
import { isClosedJourneyStatus } from './status.js';
import { ThrottledTask } from './throttle.js';

const REFETCH_MIN_INTERVAL_MS = 2000;

export class JourneyBoard {
  /**
   * `onSelect(id)` runs when a journey row or incident is clicked (null closes);
   * `onChange(journeysById)` after every change; `onAuthError()` when the API refuses the token.
   */
  constructor({ client, onSelect, onChange, onAuthError }) {
    this.client = client;
    this.onSelect = onSelect;
    this.onChange = onChange;
    this.onAuthError = onAuthError;
    this.store = new JourneyStore();
    this.panel = new JourneyPanel({ onSelect, loadDetail: (id) => client.journey(id) });
    this.layer = null;
    this.loaded = false;
    this.refetch = new ThrottledTask(() => this.reload(), REFETCH_MIN_INTERVAL_MS);
  }

  /** Draws the journeys on the map; `vehicle(id)` and `hospital(id)` give positions. */
  attachMap(map, { vehicle, hospital }) {
    this.layer = new JourneyLayer(map, { vehicle, hospital, onSelect: this.onSelect });
    this.render();
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
    return this.store.get(id) ?? null;
  }

  bounds(id) {
    return this.layer?.bounds(id) ?? null;
  }

  vehicleMoved(vehicleId) {
    this.layer?.vehicleMoved(vehicleId);
  }

  refreshLines() {
    this.layer?.refreshLines();
  }

  tick(nowMs) {
    this.panel.tick(nowMs);
  }

  relabel() {
    this.panel.relabel();
  }

  stop() {
    this.refetch.cancel();
  }
}
