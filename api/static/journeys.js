/** Client-side open journeys: the list from GET /journeys?open=true, kept current by events. */

import { parseTime } from './format.js';
import { isClosedJourneyStatus } from './status.js';

/** The NEMSIS-style timestamps of a journey, in mission order. */
export const JOURNEY_TIMESTAMPS = [
  'dispatched_at',
  'en_route_at',
  'on_scene_at',
  'transporting_at',
  'at_hospital_at',
  'returning_at',
  'completed_at',
  'cancelled_at',
];

export class JourneyStore {
  constructor() {
    this.journeys = new Map();
  }

  /** Takes an authoritative list of open journeys; returns true when anything changed. */
  replaceAll(list) {
    const before = JSON.stringify([...this.journeys.values()]);
    this.journeys = new Map(
      list.filter((journey) => journey && journey.id != null && journey.open !== false).map((journey) => [journey.id, journey]),
    );
    return before !== JSON.stringify([...this.journeys.values()]);
  }

  get(id) {
    return id === null || id === undefined ? undefined : this.journeys.get(id);
  }

  /** The open journey of a vehicle, if the page knows one. */
  forVehicle(vehicleId) {
    for (const journey of this.journeys.values()) if (journey.vehicle_id === vehicleId) return journey;
    return undefined;
  }

  /**
   * Applies a status_change event at once (the refetch that follows confirms it). Returns false
   * when the event names a journey this page does not know.
   */
  applyStatusChange(event) {
    const journey = this.get(event.journey_id);
    if (!journey) return false;
    const to = event.details?.to;
    if (isClosedJourneyStatus(to)) {
      this.journeys.delete(journey.id);
      return true;
    }
    if (typeof to !== 'string') return true;
    journey.status = to;
    const stamp = `${to}_at`;
    if (JOURNEY_TIMESTAMPS.includes(stamp) && !journey[stamp]) journey[stamp] = event.at;
    return true;
  }

  /** Applies a destination_changed event; `hospital(id)` gives the hospital record for its names. */
  applyDestinationChange(event, hospital) {
    const journey = this.get(event.journey_id);
    if (!journey) return false;
    const id = event.details?.to_hospital_id ?? null;
    journey.destination_hospital_id = id;
    journey.destination_name_vi = hospital(id)?.name_vi ?? null;
    journey.destination_name_en = hospital(id)?.name_en ?? null;
    return true;
  }

  /** Most urgent first (priority 1), then the longest running. */
  sorted() {
    return [...this.journeys.values()].sort(
      (a, b) => (a.priority ?? 9) - (b.priority ?? 9) || parseTime(a.dispatched_at) - parseTime(b.dispatched_at),
    );
  }

  /** The test hook's form: a plain object id -> journey. */
  toObject() {
    return Object.fromEntries(this.journeys);
  }
}
