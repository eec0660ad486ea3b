/** Client-side fleet state: one record per vehicle, the rules for applying fixes, and freshness. */

import { parseTime } from './format.js';

export const STALE_AFTER_S = 30;
export const FRESHNESS = ['fresh', 'stale', 'nofix', 'offline', 'none'];

/**
 * 'fresh' | 'stale' (position > 30 s old) | 'nofix' (the tracker is heard within offlineAfterS but
 * has no current GPS fix: a garage, a tunnel) | 'offline' (nothing heard for offlineAfterS) |
 * 'none' (never a position, nothing heard). `heardAgeS`: age of the tracker's last message of any
 * kind (null: unknown).
 */
export function freshnessOf(fixAgeS, heardAgeS, offlineAfterS) {
  const heard = heardAgeS !== null && heardAgeS !== undefined && heardAgeS <= offlineAfterS;
  if (fixAgeS === null || fixAgeS === undefined) return heard ? 'nofix' : 'none';
  if (fixAgeS > offlineAfterS) return heard ? 'nofix' : 'offline';
  if (fixAgeS > STALE_AFTER_S) return 'stale';
  return 'fresh';
}

/** A vehicle's `position` object built from a stream fix. */
function positionFromFix(fix) {
  return {
    time: fix.time,
    received_at: fix.received_at ?? null,
    lat: fix.lat,
    lon: fix.lon,
    speed_kmh: fix.speed_kmh ?? null,
    heading: fix.heading ?? null,
    accuracy_m: fix.accuracy_m ?? null,
    satellites: fix.satellites ?? null,
  };
}

function hasCoordinates(position) {
  return Boolean(position) && Number.isFinite(position.lat) && Number.isFinite(position.lon);
}

/**
 * Holds the latest record of each vehicle, shaped like GET /api/v1/vehicles items. A position's
 * age (seconds since its fix time) is anchored to the browser's clock when it arrives (`seenAt`),
 * from the server's `age_s` or a fix's transit time, so a skewed PC clock does not turn the whole
 * fleet "disconnected".
 */
export class FleetStore {
  constructor() {
    this.vehicles = new Map();
    this.seenAt = new Map();
    this.heardAt = new Map(); // browser time of the tracker's last message of any kind
    this.fixesReceived = 0;
  }

  /**
   * Applies an authoritative fleet list (websocket snapshot or GET /vehicles): adds and updates
   * vehicles, drops the ones not listed. Returns { removed: [ids] }.
   */
  replaceAll(list, nowMs) {
    const listed = new Set();
    for (const vehicle of list) {
      if (vehicle && vehicle.id !== undefined && vehicle.id !== null) {
        listed.add(vehicle.id);
        this.upsert(vehicle, nowMs);
      }
    }
    const removed = [...this.vehicles.keys()].filter((id) => !listed.has(id));
    for (const id of removed) {
      this.vehicles.delete(id);
      this.seenAt.delete(id);
      this.heardAt.delete(id);
    }
    return { removed };
  }

  /** Updates one record in place; a position older than the one held is not taken (no going back). */
  upsert(vehicle, nowMs) {
    const record = this.vehicles.get(vehicle.id) ?? {};
    const held = record.position;
    const offered = hasCoordinates(vehicle.position) ? vehicle.position : null;
    const older = held && offered && parseTime(offered.time) < parseTime(held.time);
    Object.assign(record, vehicle, { position: older ? held : offered });
    this.vehicles.set(vehicle.id, record);
    if (typeof vehicle.heard_age_s === 'number' && Number.isFinite(vehicle.heard_age_s)) {
      this.heardAt.set(vehicle.id, nowMs - vehicle.heard_age_s * 1000);
    } else if (vehicle.heard_age_s === null) {
      this.heardAt.delete(vehicle.id); // never heard, says the server
    }
    if (older) return;
    if (!offered) {
      this.seenAt.delete(vehicle.id);
      record.age_s = null;
    } else if (typeof vehicle.age_s === 'number' && Number.isFinite(vehicle.age_s)) {
      this.seenAt.set(vehicle.id, nowMs - vehicle.age_s * 1000);
    } else {
      const received = parseTime(offered.time);
      this.seenAt.set(vehicle.id, Number.isNaN(received) ? nowMs : Math.min(received, nowMs));
    }
  }

  /**
   * Applies one stream fix. Returns { kind, vehicle }: 'moved' (new current position),
   * 'late' (backlog or out-of-order fix: trail only), 'unknown' (vehicle not in the list) or
   * 'invalid'.
   */
  applyFix(fix, nowMs) {
    this.fixesReceived += 1;
    if (fix?.vehicle_id === null || fix?.vehicle_id === undefined) return { kind: 'invalid', vehicle: null };
    const vehicle = this.vehicles.get(fix.vehicle_id);
    if (!vehicle) return { kind: 'unknown', vehicle: null };
    this.heardAt.set(vehicle.id, nowMs); // any committed message: the tracker is connected
    if (!hasCoordinates(fix)) return { kind: 'invalid', vehicle };
    const held = vehicle.position;
    if (!fix.latest || (held && parseTime(fix.time) < parseTime(held.time))) {
      return { kind: 'late', vehicle };
    }
    vehicle.position = positionFromFix(fix);
    // Age counts from the fix time, like the server's age_s: a fix that took 3 s to reach the
    // server is already 3 s old. Both times are server-side, so the PC clock does not matter.
    const transit = parseTime(fix.received_at) - parseTime(fix.time);
    const ageMs = Number.isFinite(transit) ? Math.max(0, transit) : 0;
    vehicle.age_s = Math.round(ageMs / 100) / 10;
    this.seenAt.set(vehicle.id, nowMs - ageMs);
    return { kind: 'moved', vehicle };
  }

  /**
   * Sets a vehicle's status (and open journey) from a live status_change event. Returns the
   * record, or null for a vehicle the page does not know.
   */
  applyStatus(vehicleId, status, journeyId) {
    const vehicle = this.vehicles.get(vehicleId);
    if (!vehicle) return null;
    vehicle.status = status;
    vehicle.journey_id = journeyId ?? null;
    return vehicle;
  }

  /** Age in seconds of the vehicle's current position, or null without one. */
  ageSeconds(id, nowMs) {
    const seen = this.seenAt.get(id);
    return seen === undefined ? null : Math.max(0, (nowMs - seen) / 1000);
  }

  /** The tracker was heard now without a position (a `device_online` event without a GPS fix). */
  heard(vehicleId, nowMs) {
    if (this.vehicles.has(vehicleId)) this.heardAt.set(vehicleId, nowMs);
  }

  /** Seconds since the tracker's last message of any kind, or null. */
  heardSeconds(id, nowMs) {
    const heard = this.heardAt.get(id);
    return heard === undefined ? null : Math.max(0, (nowMs - heard) / 1000);
  }

  /** See freshnessOf. */
  freshness(id, nowMs, offlineAfterS) {
    return freshnessOf(this.ageSeconds(id, nowMs), this.heardSeconds(id, nowMs), offlineAfterS);
  }

  /** Refreshes every record's `age_s` so that window.ambState reads current values. */
  refreshAges(nowMs) {
    for (const [id, vehicle] of this.vehicles) {
      const age = this.ageSeconds(id, nowMs);
      vehicle.age_s = age === null ? null : Math.round(age * 10) / 10;
    }
  }

  /** Vehicles sorted for display: by call sign, numbers in natural order. */
  sorted() {
    return [...this.vehicles.values()].sort((a, b) =>
      String(a.call_sign ?? a.plate ?? a.id).localeCompare(String(b.call_sign ?? b.plate ?? b.id), 'vi', {
        numeric: true,
      }),
    );
  }
}
