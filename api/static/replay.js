/**
 * Replay of a journey from GET /journeys/{id}/replay: the path coloured by the status in force,
 * a marker moving along the fixes, and a timeline with play/pause, speed, time, status and speed.
 */

import { AuthError } from './api.js';
import { byId, h, setData, setText, uiScale } from './dom.js';
import { formatDateTime, formatSpeed, parseTime } from './format.js';
import { addStrings, t } from './i18n.js';
import { normaliseStatus, statusLabel, statusPill, setStatusPill } from './status.js';

addStrings({
  vi: {
    'replay.title': 'Xem lại · {c} · Hành trình #{id}',
    'replay.loading': 'Đang tải lộ trình…',
    'replay.empty': 'Không có vị trí nào được ghi cho hành trình này.',
    'replay.failed': 'Không tải được lộ trình: {e}',
    'replay.play': 'Phát',
    'replay.pause': 'Tạm dừng',
    'replay.speed': 'Tốc độ phát',
    'replay.position': 'Thời điểm',
    'replay.close': 'Đóng xem lại',
    'replay.change': '{s} lúc {t}',
  },
  en: {
    'replay.title': 'Replay · {c} · Journey #{id}',
    'replay.loading': 'Loading the route…',
    'replay.empty': 'No positions were recorded for this journey.',
    'replay.failed': 'Could not load the route: {e}',
    'replay.play': 'Play',
    'replay.pause': 'Pause',
    'replay.speed': 'Playback speed',
    'replay.position': 'Time',
    'replay.close': 'Close replay',
    'replay.change': '{s} at {t}',
  },
});

const L = window.L;
const SPEEDS = [1, 10, 30, 60, 120, 300];
const DEFAULT_SPEED = 60;
const SLIDER_STEPS = 1000;

// Constant markup (no data): a disc with an arrow, like the live vehicles but outlined in white.
const MARKER_HTML =
  '<svg class="replay-glyph" viewBox="-20 -20 40 40" aria-hidden="true">' +
  '<circle class="replay-disc" r="13"></circle>' +
  '<path class="replay-arrow" d="M0,-9 L7,7 L0,3 L-7,7 Z"></path>' +
  '</svg>';

/** Index of the last frame at or before `time` (binary search over sorted times). */
function frameAt(times, time) {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= time) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export class ReplayPlayer {
  /** `onState(state)` mirrors the player to window.ambState.replay; `onOpen()` before it shows. */
  constructor(map, { client, onState = () => {}, onOpen = () => {}, onAuthError = () => {} }) {
    this.map = map;
    this.client = client;
    this.onState = onState;
    this.onOpen = onOpen;
    this.onAuthError = onAuthError;
    this.group = L.layerGroup().addTo(map);
    this.root = byId('replay-bar');
    this.frames = [];
    this.times = [];
    this.time = 0;
    this.playing = false;
    this.speed = DEFAULT_SPEED;
    this.journey = null;
    this.ticket = 0;
    this.frameId = 0;
    this.lastFrameAt = 0;
    this.step = this.step.bind(this);
    this.build();
  }

  build() {
    this.title = h('strong', { id: 'replay-title', class: 'replay-title' });
    this.message = h('span', { id: 'replay-message', class: 'replay-message' });
    this.playButton = h('button', { type: 'button', id: 'replay-play', class: 'btn replay-play', onclick: () => this.toggle() });
    this.slider = h('input', { type: 'range', id: 'replay-slider', min: '0', max: String(SLIDER_STEPS), value: '0', step: '1' });
    this.slider.addEventListener('input', () => this.seek(Number(this.slider.value) / SLIDER_STEPS));
    this.speedSelect = h('select', { id: 'replay-speed' }, SPEEDS.map((n) => h('option', { value: String(n), text: `×${n}`, selected: n === DEFAULT_SPEED })));
    this.speedSelect.addEventListener('change', () => {
      this.speed = Number(this.speedSelect.value);
      this.emit();
    });
    this.clock = h('time', { id: 'replay-time', class: 'replay-time' });
    this.status = statusPill('dispatched');
    this.status.id = 'replay-status';
    this.speedText = h('span', { id: 'replay-speed-kmh', class: 'replay-kmh' });
    this.closeButton = h('button', { type: 'button', id: 'replay-close', class: 'btn btn-icon', text: '×', onclick: () => this.close() });
    this.root.replaceChildren(
      h('div', { class: 'replay-head' }, this.title, this.message, this.closeButton),
      h('div', { class: 'replay-controls' }, this.playButton, this.slider, this.speedSelect, this.clock, this.status, this.speedText),
    );
    this.relabel();
  }

  /** Loads and shows a journey's replay. */
  async open(journey) {
    this.onOpen();
    this.pause();
    this.clear();
    this.journey = journey;
    const ticket = ++this.ticket;
    this.root.hidden = false;
    this.root.dataset.state = 'loading';
    this.relabel();
    setText(this.message, t('replay.loading'));
    let replay;
    try {
      replay = await this.client.replay(journey.id);
    } catch (error) {
      if (ticket !== this.ticket) return;
      if (error instanceof AuthError) this.onAuthError();
      this.root.dataset.state = 'error';
      setText(this.message, t('replay.failed', { e: error.detail || error.message }));
      this.emit();
      return;
    }
    if (ticket !== this.ticket) return;
    this.journey = { ...journey, ...(replay.journey ?? {}) };
    this.frames = (replay.frames ?? []).filter((f) => Number.isFinite(f.lat) && Number.isFinite(f.lon) && !Number.isNaN(parseTime(f.time)));
    this.frames.sort((a, b) => parseTime(a.time) - parseTime(b.time));
    this.times = this.frames.map((f) => parseTime(f.time));
    this.relabel();
    if (!this.frames.length) {
      this.root.dataset.state = 'empty';
      setText(this.message, t('replay.empty'));
      this.emit();
      return;
    }
    setText(this.message, '');
    this.root.dataset.state = 'ready';
    this.draw(replay.status_log ?? []);
    this.time = this.times[0];
    this.render();
    this.map.fitBounds(L.latLngBounds(this.frames.map((f) => [f.lat, f.lon])), { padding: [60, 60], paddingBottomRight: [60, 160], maxZoom: 17 });
    this.play();
  }

  /** The path, one polyline per run of frames with the same status, and a dot at each status change. */
  draw(statusLog) {
    let run = [];
    let status = null;
    const flush = () => {
      if (run.length > 1) {
        const line = L.polyline(run, { pane: 'journeys', className: 'replay-path', interactive: false });
        line.addTo(this.group);
        setData(line.getElement(), 'status', normaliseStatus(status));
      }
    };
    for (const frame of this.frames) {
      if (frame.status !== status) {
        // Runs share their boundary point, so the path has no gaps.
        const last = run[run.length - 1];
        flush();
        run = last ? [last] : [];
        status = frame.status;
      }
      run.push([frame.lat, frame.lon]);
    }
    flush();
    for (const change of statusLog) {
      const at = parseTime(change.at);
      if (Number.isNaN(at) || !this.times.length) continue;
      const frame = this.frames[frameAt(this.times, at)];
      const dot = L.circleMarker([frame.lat, frame.lon], { pane: 'journeys', className: 'replay-change', radius: 6 * uiScale() });
      dot.bindTooltip(t('replay.change', { s: statusLabel(change.to_status), t: formatDateTime(change.at) }), { direction: 'top', className: 'incident-tip' });
      dot.addTo(this.group);
      setData(dot.getElement(), 'status', normaliseStatus(change.to_status));
    }
    const size = Math.round(34 * uiScale());
    const icon = L.divIcon({ className: 'replay-icon', html: MARKER_HTML, iconSize: [size, size], iconAnchor: [size / 2, size / 2] });
    this.marker = L.marker([this.frames[0].lat, this.frames[0].lon], { icon, pane: 'incidents', interactive: false, keyboard: false, zIndexOffset: 3000 });
    this.marker.addTo(this.group);
    this.marker.getElement().id = 'replay-marker';
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  play() {
    if (!this.frames.length) return;
    if (this.time >= this.times[this.times.length - 1]) this.time = this.times[0];
    this.playing = true;
    this.lastFrameAt = performance.now();
    if (!this.frameId) this.frameId = requestAnimationFrame(this.step);
    this.render();
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.frameId);
    this.frameId = 0;
    if (this.frames.length) this.render();
  }

  step(now) {
    this.frameId = 0;
    if (!this.playing) return;
    this.time += (now - this.lastFrameAt) * this.speed;
    this.lastFrameAt = now;
    const end = this.times[this.times.length - 1];
    if (this.time >= end) {
      this.time = end;
      this.playing = false;
    }
    this.render();
    if (this.playing) this.frameId = requestAnimationFrame(this.step);
  }

  /** Jumps to a fraction (0..1) of the journey. */
  seek(fraction) {
    if (!this.frames.length) return;
    const start = this.times[0];
    this.time = start + (this.times[this.times.length - 1] - start) * fraction;
    this.render();
  }

  /** Puts the marker where the vehicle was at `this.time` (between two fixes: in between). */
  render() {
    const i = frameAt(this.times, this.time);
    const frame = this.frames[i];
    const next = this.frames[i + 1];
    let lat = frame.lat;
    let lon = frame.lon;
    if (next && this.times[i + 1] > this.times[i]) {
      const k = Math.min(1, Math.max(0, (this.time - this.times[i]) / (this.times[i + 1] - this.times[i])));
      lat += (next.lat - lat) * k;
      lon += (next.lon - lon) * k;
    }
    this.marker?.setLatLng([lat, lon]);
    const glyph = this.marker?.getElement()?.querySelector('.replay-glyph');
    if (glyph && Number.isFinite(frame.heading)) glyph.style.transform = `rotate(${frame.heading}deg)`;
    if (this.marker) setData(this.marker.getElement(), 'status', normaliseStatus(frame.status));
    const start = this.times[0];
    const span = this.times[this.times.length - 1] - start;
    this.slider.value = String(span > 0 ? Math.round(((this.time - start) / span) * SLIDER_STEPS) : 0);
    const iso = new Date(this.time).toISOString();
    setText(this.clock, formatDateTime(iso));
    this.clock.setAttribute('datetime', iso);
    setStatusPill(this.status, frame.status);
    setText(this.speedText, formatSpeed(frame.speed_kmh));
    this.index = i;
    this.relabelPlay();
    this.emit();
  }

  relabelPlay() {
    setText(this.playButton, this.playing ? '❚❚' : '▶');
    const label = t(this.playing ? 'replay.pause' : 'replay.play');
    this.playButton.setAttribute('aria-label', label);
    this.playButton.title = label;
    setData(this.root, 'playing', this.playing ? '1' : '0');
  }

  relabel() {
    const journey = this.journey;
    if (journey) setText(this.title, t('replay.title', { c: journey.call_sign || `#${journey.vehicle_id}`, id: journey.id }));
    this.slider.setAttribute('aria-label', t('replay.position'));
    this.speedSelect.setAttribute('aria-label', t('replay.speed'));
    this.closeButton.setAttribute('aria-label', t('replay.close'));
    this.closeButton.title = t('replay.close');
    this.relabelPlay();
    if (this.frames.length) this.render();
  }

  clear() {
    this.group.clearLayers();
    this.marker = null;
    this.frames = [];
    this.times = [];
    this.index = 0;
  }

  close() {
    this.ticket += 1;
    this.pause();
    this.clear();
    this.journey = null;
    this.root.hidden = true;
    this.emit();
  }

  emit() {
    const frame = this.frames[this.index ?? 0];
    this.onState({
      journeyId: this.journey?.id ?? null,
      state: this.root.hidden ? 'closed' : this.root.dataset.state,
      frames: this.frames.length,
      index: this.index ?? 0,
      playing: this.playing,
      speed: this.speed,
      time: this.frames.length ? new Date(this.time).toISOString() : null,
      status: frame?.status ?? null,
    });
  }
}
