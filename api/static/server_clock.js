/**
 * The server's clock, estimated from the times it sends (heartbeats): countdowns to an
 * `arrival_at` stay right on a PC whose own clock is minutes off.
 */

import { parseTime } from './format.js';

const SAMPLES = 5;
const samples = [];
let offsetMs = 0;

/** Notes a server timestamp that was just received (ISO 8601). */
export function noteServerTime(iso) {
  const at = parseTime(iso);
  if (Number.isNaN(at)) return;
  samples.push(at - Date.now());
  if (samples.length > SAMPLES) samples.shift();
  // A message is always a little late: the largest recent offset is the closest to the truth.
  offsetMs = Math.max(...samples);
}

/** Now, by the server's clock (epoch ms). */
export function serverNow() {
  return Date.now() + offsetMs;
}

/** Seconds from now until an ISO time by the server's clock (negative once passed); NaN when absent. */
export function secondsUntil(iso) {
  const at = parseTime(iso);
  return Number.isNaN(at) ? Number.NaN : (at - serverNow()) / 1000;
}
