/**
 * The tablet as the vehicle's tracker, when the ambulance has no hardware box: the browser's
 * Geolocation API, sent to the gateway's OsmAnd/HTTP listener like any phone tracker (its own
 * device id and token, issued by POST /api/v1/crew/tracker). Every fix is kept on the tablet
 * first (localStorage) and removed only once the gateway answered 200, which it does only after
 * the fix is committed; after a gap the backlog goes as one array (stored as buffered fixes),
 * oldest first. A fix sent twice (an answer lost) is stored once: the gateway de-duplicates by
 * device and fix time.
 */

const STORAGE = 'amb.crew.tracker';
const BUFFER = 'amb.crew.fixes';
const MAX_BUFFER = 5000; // ~4 h at one fix every 3 s; the oldest go first beyond
const MAX_BATCH = 500;
const SEND_MS = 2000;
const RETRY_MAX_MS = 30000;

function read(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? '') ?? fallback;
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Full or disabled storage: the buffer lives in memory for this page.
  }
}

/** A fix in the OsmAnd JSON (background-geolocation) shape the gateway decodes. */
export function osmandLocation(position) {
  const c = position.coords;
  const coords = { latitude: c.latitude, longitude: c.longitude, accuracy: c.accuracy ?? -1 };
  if (Number.isFinite(c.speed) && c.speed !== null) coords.speed = c.speed;
  if (Number.isFinite(c.heading) && c.heading !== null) coords.heading = c.heading;
  if (Number.isFinite(c.altitude) && c.altitude !== null) coords.altitude = c.altitude;
  return { timestamp: new Date(position.timestamp).toISOString(), coords };
}

export class BrowserTracker {
  /** `issue()` resolves { device_id, token, url } (the crew's tracker credentials). */
  constructor(issue, { onChange = () => {} } = {}) {
    this.issue = issue;
    this.onChange = onChange;
    this.credentials = read(STORAGE, null);
    this.buffer = read(BUFFER, []);
    this.watch = null;
    this.timer = 0;
    this.failures = 0;
    this.sending = false;
    this.stats = { sent: 0, acknowledged: 0, lastStatus: null };
  }

  get on() {
    return this.watch !== null;
  }

  async start() {
    if (this.on || !navigator.geolocation) return false;
    if (!this.credentials) {
      this.credentials = await this.issue();
      write(STORAGE, this.credentials);
    }
    this.watch = navigator.geolocation.watchPosition(
      (position) => this.add(position),
      () => this.onChange(),
      { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 },
    );
    this.schedule(0);
    this.onChange();
    return true;
  }

  stop() {
    if (this.watch !== null) navigator.geolocation.clearWatch(this.watch);
    this.watch = null;
    this.onChange();
  }

  add(position) {
    const fix = osmandLocation(position);
    if (this.buffer.length && this.buffer[this.buffer.length - 1].timestamp === fix.timestamp) return;
    this.buffer.push(fix);
    if (this.buffer.length > MAX_BUFFER) this.buffer.splice(0, this.buffer.length - MAX_BUFFER);
    write(BUFFER, this.buffer);
    this.onChange();
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.send(), ms);
  }

  /** Sends what is buffered (one fix live, an array for a backlog); drops it only on a 200. */
  async send() {
    if (this.sending) return;
    const batch = this.buffer.slice(0, MAX_BATCH);
    if (!batch.length || !this.credentials) {
      this.schedule(SEND_MS);
      return;
    }
    this.sending = true;
    const { device_id: deviceId, token, url } = this.credentials;
    const body = { device_id: deviceId, location: batch.length === 1 ? batch[0] : batch };
    let next = SEND_MS;
    try {
      this.stats.sent += batch.length;
      const response = await fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
      this.stats.lastStatus = response.status;
      if (response.ok || response.status === 400) {
        // 200: committed. 400: refused as malformed: resending cannot repair it.
        this.buffer.splice(0, batch.length);
        write(BUFFER, this.buffer);
        this.stats.acknowledged += response.ok ? batch.length : 0;
        this.failures = 0;
        if (this.buffer.length) next = 0;
      } else {
        throw new Error(`HTTP ${response.status}`);
      }
    } catch {
      this.failures += 1;
      next = Math.min(RETRY_MAX_MS, SEND_MS * 2 ** Math.min(this.failures, 4));
    } finally {
      this.sending = false;
    }
    this.onChange();
    this.schedule(navigator.onLine ? next : Math.max(next, SEND_MS));
  }
}
