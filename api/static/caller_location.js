/**
 * The dispatcher's side of a caller location request: a button making the link (read out or sent
 * by SMS/Zalo), the caller's position appearing on the map with its accuracy as the phone sends
 * it (live `caller_location` events), and a button accepting it as the incident's position (the
 * journey's scene moves; its route and ETAs follow).
 */

import { ApiError, AuthError } from './api.js';
import { h } from './dom.js';
import { formatShortTime } from './format.js';
import { addStrings, t } from './i18n.js';
import { PAGES } from './session.js';

addStrings({
  vi: {
    'locreq.ask': 'Yêu cầu vị trí người gọi',
    'locreq.ready': 'Link chia sẻ vị trí (đọc cho người gọi hoặc gửi SMS/Zalo), hết hạn lúc {t}:',
    'locreq.waiting': 'Đang chờ người gọi chia sẻ vị trí…',
    'locreq.located': 'Người gọi đang ở đây (sai số ~{m} m, {n} lần gửi)',
    'locreq.refused': 'Người gọi đã từ chối chia sẻ vị trí.',
    'locreq.accept': 'Dùng vị trí này cho sự cố',
    'locreq.accepted': 'Đã dùng vị trí người gọi cho sự cố.',
    'locreq.marker': 'Vị trí người gọi (±{m} m)',
    'locreq.failed': 'Không thực hiện được: {e}',
  },
  en: {
    'locreq.ask': "Ask for the caller's location",
    'locreq.ready': 'Location link (read it to the caller or send it by SMS/Zalo), expires at {t}:',
    'locreq.waiting': 'Waiting for the caller to share the location…',
    'locreq.located': 'The caller is here (±{m} m, {n} reports)',
    'locreq.refused': 'The caller declined to share the location.',
    'locreq.accept': 'Use this position for the incident',
    'locreq.accepted': "The caller's position is now the incident's.",
    'locreq.marker': "Caller's position (±{m} m)",
    'locreq.failed': 'Could not do it: {e}',
  },
});

const L = window.L;

/** Test hook: the requests by journey id. */
const ambLocation = { requests: {} };
window.ambLocation = ambLocation;

export class CallerLocation {
  /** `rerender()` redraws the journey's actions; `onChanged(journeyId)` after an accepted position. */
  constructor({ client, onAuthError, onChanged, rerender }) {
    this.client = client;
    this.onAuthError = onAuthError;
    this.onChanged = onChanged;
    this.rerender = rerender;
    this.byJourney = new Map(); // journey id -> { id, url, expires_at, state, position, reports, error }
    this.layer = null;
  }

  attachMap(map) {
    this.layer = L.layerGroup().addTo(map);
    this.draw();
  }

  row(journey) {
    const request = this.byJourney.get(journey.id);
    const row = h('div', { class: 'action-row', id: 'location-request-row' });
    row.append(h('button', { type: 'button', id: 'location-request', class: 'btn', text: t('locreq.ask'), onclick: () => this.ask(journey) }));
    if (!request) return row;
    if (request.error) row.append(h('p', { class: 'form-error', text: t('locreq.failed', { e: request.error }) }));
    if (request.url && request.state !== 'accepted') {
      const input = h('input', { id: 'location-request-url', type: 'text', readonly: true, value: request.url });
      input.addEventListener('focus', () => input.select());
      row.append(h('small', { text: t('locreq.ready', { t: formatShortTime(request.expires_at) }) }), input);
    }
    const says = {
      waiting: () => t('locreq.waiting'),
      located: () => t('locreq.located', { m: Math.round(request.position?.accuracy_m ?? 0), n: request.reports }),
      refused: () => t('locreq.refused'),
      accepted: () => t('locreq.accepted'),
    }[request.state];
    if (says) row.append(h('p', { id: 'location-request-state', class: 'form-note', role: 'status', text: says() }));
    if (request.state === 'located') {
      row.append(h('button', { type: 'button', id: 'location-accept', class: 'btn btn-primary', text: t('locreq.accept'), onclick: () => this.accept(journey, request) }));
    }
    return row;
  }

  async ask(journey) {
    try {
      const answer = await this.client.locationRequest(journey.id);
      const url = new URL(String(answer.url).replace(/^\//, ''), PAGES.dispatcher()).toString();
      this.set(journey.id, { id: answer.id, url, expires_at: answer.expires_at, state: 'waiting', position: null, reports: 0 });
    } catch (error) {
      this.failed(journey.id, error);
    }
  }

  async accept(journey, request) {
    try {
      await this.client.acceptLocation(request.id);
      this.set(journey.id, { ...request, state: 'accepted' });
      this.onChanged(journey.id);
    } catch (error) {
      this.failed(journey.id, error);
    }
  }

  failed(journeyId, error) {
    if (error instanceof AuthError) {
      this.onAuthError();
      return;
    }
    const detail = error instanceof ApiError ? error.detail || error.message : String(error);
    this.set(journeyId, { ...(this.byJourney.get(journeyId) ?? {}), error: detail });
  }

  set(journeyId, request) {
    this.byJourney.set(journeyId, request);
    ambLocation.requests[journeyId] = request;
    this.draw();
    this.rerender(journeyId);
  }

  /** Live events: the caller's phone reported, or declined. */
  applyEvents(events) {
    for (const event of events) {
      if (!['caller_location', 'caller_location_refused'].includes(event.kind)) continue;
      const request = this.byJourney.get(event.journey_id);
      if (!request || request.id !== event.details?.request_id || request.state === 'accepted') continue;
      if (event.kind === 'caller_location_refused') {
        this.set(event.journey_id, { ...request, state: 'refused' });
        continue;
      }
      const { lat, lon, accuracy_m: accuracy } = event.details;
      this.set(event.journey_id, { ...request, state: 'located', position: { lat, lon, accuracy_m: accuracy }, reports: (request.reports ?? 0) + 1 });
    }
  }

  draw() {
    if (!this.layer) return;
    this.layer.clearLayers();
    for (const request of this.byJourney.values()) {
      if (!request.position || request.state === 'accepted') continue;
      const { lat, lon, accuracy_m: accuracy } = request.position;
      const label = t('locreq.marker', { m: Math.round(accuracy ?? 0) });
      L.circle([lat, lon], { radius: Math.max(accuracy ?? 0, 5), color: '#6a1b9a', weight: 2, fillOpacity: 0.15 }).addTo(this.layer);
      L.circleMarker([lat, lon], { radius: 7, color: '#fff', weight: 2, fillColor: '#6a1b9a', fillOpacity: 1 })
        .bindTooltip(label, { permanent: true, direction: 'top', className: 'caller-location-tip' })
        .addTo(this.layer);
    }
  }
}
