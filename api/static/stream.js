/** The live fleet websocket: one connection at a time, reconnected with jittered backoff. */

export const AUTH_CLOSE_CODES = new Set([4401, 4403]);
const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// The server sends a heartbeat every ~15 s; three missed ones mean a dead connection.
const SILENCE_LIMIT_MS = 45000;

/** Delay before reconnect attempt `attempt` (0-based): doubling from 1 s to 30 s, ±25 % jitter. */
export function backoffDelay(attempt) {
  const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** attempt);
  const jittered = base * (0.75 + Math.random() * 0.5);
  return Math.round(Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, jittered)));
}

/**
 * Follows `/api/v1/stream`. `url()` returns the address (or a promise of it) for each attempt.
 * Callbacks:
 * - onMessage(message): each parsed JSON message;
 * - onStatus({ state, retryAt }): state is 'connecting' | 'connected' | 'reconnecting' | 'auth';
 *   retryAt (epoch ms) is set while waiting for the next attempt, 0 during the attempt itself;
 * - checkAuth(): resolves false when the token is refused (asked after a failed handshake, since a
 *   browser cannot see the HTTP status of a refused websocket upgrade).
 */
export class FleetStream {
  constructor({ url, onMessage, onStatus, checkAuth }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.checkAuth = checkAuth;
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.silenceTimer = 0;
    this.stopped = false;
    this.handleOnline = () => this.reconnectNow();
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.handleOnline);
    this.connect();
  }

  /** Closes for good (auth failure or page teardown). */
  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.handleOnline);
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    this.detach()?.close(1000, 'client stop');
  }

  async connect() {
    clearTimeout(this.retryTimer);
    this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let socket;
    try {
      // The URL may cost a request (a single-use ticket for an API key): asked for each attempt.
      const url = await this.url();
      if (this.stopped || this.socket) return;
      socket = new WebSocket(url);
    } catch (error) {
      if (this.stopped) return;
      if (this.checkAuth && !(await this.checkAuth().catch(() => true))) {
        this.fail();
        return;
      }
      console.warn('stream: cannot open websocket', error);
      this.scheduleReconnect();
      return;
    }
    let opened = false;
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.armSilenceTimer();
      this.setStatus('connected');
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onerror = () => {
      // Always followed by a close event, which decides what to do.
    };
    socket.onclose = (event) => {
      this.socket = null;
      clearTimeout(this.silenceTimer);
      this.handleClose(event.code, opened);
    };
  }

  receive(data) {
    this.armSilenceTimer();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      console.warn('stream: ignoring a message that is not JSON');
      return;
    }
    if (message && typeof message === 'object') {
      // A message proves the connection works end to end: the next failure starts from 1 s again.
      this.attempt = 0;
      this.onMessage(message);
    }
  }

  async handleClose(code, opened) {
    if (this.stopped) return;
    if (AUTH_CLOSE_CODES.has(code)) {
      this.fail();
      return;
    }
    if (!opened && this.checkAuth) {
      const authorised = await this.checkAuth().catch(() => true);
      if (this.stopped) return;
      if (!authorised) {
        this.fail();
        return;
      }
    }
    this.scheduleReconnect();
  }

  fail() {
    this.stop();
    this.setStatus('auth');
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setStatus('reconnecting', Date.now() + delay);
  }

  /** Skips the wait, e.g. when the browser reports the network is back. */
  reconnectNow() {
    if (!this.stopped && !this.socket) this.connect();
  }

  armSilenceTimer() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      console.warn('stream: no message for 45 s, reconnecting');
      this.detach()?.close(4000, 'heartbeat timeout');
      this.scheduleReconnect();
    }, SILENCE_LIMIT_MS);
  }

  /** Unhooks the current socket so its late events cannot trigger a second reconnect. */
  detach() {
    const socket = this.socket;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
    }
    this.socket = null;
    return socket;
  }

  setStatus(state, retryAt = 0) {
    this.onStatus({ state, retryAt });
  }
}
