/**
 * The hospital board's data: the ambulances inbound to one hospital (GET /hospitals/{id}/inbound
 * or the hospital stream's snapshot), kept current by `etas` (and `fixes` for fleet accounts),
 * their ETAs counting down to `arrival_at` by the server's clock.
 */

import { parseTime } from './format.js';
import { secondsUntil, serverNow } from './server_clock.js';

/** Orders rows by arrival: arrived first, then by time to the hospital, then those still heading to their scene. */
function arrivalKey(record, nowMs) {
  if (record.status === 'at_hospital') return [0, 0];
  const left = secondsLeft(record, nowMs);
  if (Number.isFinite(left)) return [1, left];
  const scene = sceneSecondsLeft(record, nowMs);
  return [2, Number.isFinite(scene) ? scene : Infinity];
}

/** Seconds until the ambulance reaches the hospital (NaN while it still heads for its scene). */
export function secondsLeft(record, nowMs = serverNow()) {
  if (record.status === 'at_hospital') return 0;
  if (record.arrival_at) return Math.max(0, secondsUntil(record.arrival_at));
  if (Number.isFinite(record.eta_s) && record.etaAt) return Math.max(0, record.eta_s - (nowMs - record.etaAt) / 1000);
  return Number.NaN;
}

/** Seconds until it reaches its scene (before it picks the patient up), else NaN. */
export function sceneSecondsLeft(record, nowMs = serverNow()) {
  if (!Number.isFinite(record.scene_eta_s) || !record.sceneAt) return Number.NaN;
  return Math.max(0, record.scene_eta_s - (nowMs - record.sceneAt) / 1000);
}

export class InboundStore {
  constructor() {
    this.records = new Map(); // journey id -> record
  }

  /** Takes an authoritative inbound list (REST or snapshot). */
  replaceAll(list, nowMs = serverNow()) {
    const next = new Map();
    for (const item of list ?? []) {
      if (item?.journey_id == null) continue;
      const record = { ...item, etaAt: nowMs, sceneAt: nowMs };
      record.seenAt = Number.isFinite(item.fix_age_s) ? nowMs - item.fix_age_s * 1000 : null;
      next.set(item.journey_id, record);
    }
    this.records = next;
  }

  /** One ETA of the stream; false when it names a journey the board does not list (refetch). */
  applyEta(eta, nowMs = serverNow()) {
    const record = this.records.get(eta.journey_id);
    if (!record) return false;
    if (Number.isFinite(eta.lat) && Number.isFinite(eta.lon)) {
      record.position = { ...(record.position ?? {}), lat: eta.lat, lon: eta.lon, time: eta.fix_time ?? record.position?.time };
    }
    const fixAt = parseTime(eta.fix_time);
    if (!Number.isNaN(fixAt)) record.seenAt = Math.min(nowMs, fixAt);
    if (eta.target === 'hospital') {
      record.arrival_at = eta.arrival_at ?? null;
      record.arrival_window = eta.arrival_window ?? null;
      record.eta_s = eta.remaining_s;
      record.etaAt = nowMs;
      record.distance_left_m = eta.remaining_m;
      record.scene_eta_s = null;
    } else if (eta.target === 'scene') {
      record.scene_eta_s = eta.remaining_s;
      record.sceneAt = nowMs;
    }
    return true;
  }

  /** A fix of the fleet stream (admin and dispatcher boards): moves an inbound ambulance. */
  applyFix(fix, nowMs = serverNow()) {
    if (!fix?.latest) return false;
    let moved = false;
    for (const record of this.records.values()) {
      if (record.vehicle_id !== fix.vehicle_id) continue;
      record.position = { lat: fix.lat, lon: fix.lon, heading: fix.heading, speed_kmh: fix.speed_kmh, time: fix.time };
      const at = parseTime(fix.time);
      record.seenAt = Number.isNaN(at) ? nowMs : Math.min(nowMs, at);
      moved = true;
    }
    return moved;
  }

  has(journeyId) {
    return this.records.has(journeyId);
  }

  /** Seconds since the ambulance's last fix, or null. */
  age(record, nowMs = serverNow()) {
    return record.seenAt == null ? null : Math.max(0, (nowMs - record.seenAt) / 1000);
  }

  sorted(nowMs = serverNow()) {
    return [...this.records.values()].sort((a, b) => {
      const [ga, ka] = arrivalKey(a, nowMs);
      const [gb, kb] = arrivalKey(b, nowMs);
      return ga - gb || ka - kb || (a.priority ?? 9) - (b.priority ?? 9);
    });
  }

  /** The test hook's form. */
  toArray(nowMs = serverNow()) {
    return this.sorted(nowMs).map((r) => ({
      journey_id: r.journey_id,
      vehicle_id: r.vehicle_id,
      call_sign: r.call_sign,
      status: r.status,
      priority: r.priority,
      arrival_at: r.arrival_at ?? null,
      arrival_window: r.arrival_window ?? null,
      seconds_left: Number.isFinite(secondsLeft(r, nowMs)) ? Math.round(secondsLeft(r, nowMs)) : null,
      scene_seconds_left: Number.isFinite(sceneSecondsLeft(r, nowMs)) ? Math.round(sceneSecondsLeft(r, nowMs)) : null,
      distance_left_m: r.distance_left_m ?? null,
      age_s: this.age(r, nowMs) == null ? null : Math.round(this.age(r, nowMs)),
    }));
  }
}
