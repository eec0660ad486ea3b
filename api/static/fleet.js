/** Client-side fleet state: one record per vehicle, the rules for applying fixes, and freshness. */

import { parseTime } from './format.js';

export const STALE_AFTER_S = 30;
export const FRESHNESS = ['fresh', 'stale', 'offline', 'none'];

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

  /** 'fresh' | 'stale' (> 30 s) | 'offline' (> offlineAfterS) | 'none' (no position yet). */
  freshness(id, nowMs, offlineAfterS) {
    const age = this.ageSeconds(id, nowMs);
    if (age === null) return 'none';
    if (age > offlineAfterS) return 'offline';
    if (age > STALE_AFTER_S) return 'stale';
    return 'fresh';
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
