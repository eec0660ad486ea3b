/**
 * What can be done from a journey's card: set its status by hand, change its destination
 * hospital, send the caller a tracking link (dispatchers and admins), and replay it (everyone).
 */

import { ApiError, AuthError } from './api.js';
import { byId, h, setData, setText } from './dom.js';
import { formatDistance, formatMinutes, formatShortTime } from './format.js';
import { addStrings, lang, t } from './i18n.js';
import { PAGES } from './session.js';
import { CallerLocation } from './caller_location.js';
import { statusLabel } from './status.js';

addStrings({
  vi: {
    'actions.status': 'Đặt trạng thái',
    'actions.more': 'Trạng thái khác…',
    'actions.confirm': 'Bấm lần nữa để xác nhận: {s}',
    'actions.destination': 'Bệnh viện đích',
    'actions.noDestination': '— Chưa chọn —',
    'actions.changeDestination': 'Đổi',
    'actions.callerLink': 'Gửi link theo dõi cho người gọi',
    'actions.callerLinkBusy': 'Đang tạo link…',
    'actions.callerLinkReady': 'Link theo dõi cho người gọi (gửi qua SMS hoặc Zalo):',
    'actions.callerLinkExpires': 'Hết hạn lúc {t}',
    'actions.callerLinkUntilEnd': 'Dùng được đến khi hành trình kết thúc.',
    'actions.copy': 'Sao chép',
    'actions.copied': 'Đã sao chép',
    'actions.open': 'Mở',
    'actions.unavailable': 'Máy chủ chưa hỗ trợ link theo dõi cho người gọi.',
    'actions.replay': 'Xem lại lộ trình',
    'actions.reassign': 'Thay xe (xe nhanh nhất)',
    'actions.units': 'Các xe của sự cố',
    'actions.addUnit': 'Gửi thêm xe (xe nhanh nhất)',
    'actions.reassignReason': 'Lý do thay xe',
    'reason.breakdown': 'hỏng xe',
    'reason.accident': 'tai nạn',
    'reason.diverted': 'điều sang ca khác',
    'actions.failed': 'Không thực hiện được: {e}',
    'actions.forbidden': 'Tài khoản này không có quyền thực hiện thao tác này.',
    'actions.done': 'Đã lưu.',
  },
  en: {
    'actions.status': 'Set status',
    'actions.more': 'Other status…',
    'actions.confirm': 'Click again to confirm: {s}',
    'actions.destination': 'Destination hospital',
    'actions.noDestination': '— None —',
    'actions.changeDestination': 'Change',
    'actions.callerLink': 'Send the caller a tracking link',
    'actions.callerLinkBusy': 'Creating the link…',
    'actions.callerLinkReady': 'Tracking link for the caller (send by SMS or Zalo):',
    'actions.callerLinkExpires': 'Expires at {t}',
    'actions.callerLinkUntilEnd': 'Works until the journey ends.',
    'actions.copy': 'Copy',
    'actions.copied': 'Copied',
    'actions.open': 'Open',
    'actions.unavailable': 'This server does not offer caller tracking links yet.',
    'actions.replay': 'Replay the route',
    'actions.reassign': 'Replace the unit (fastest available)',
    'actions.units': 'Units at this incident',
    'actions.addUnit': 'Send another unit (fastest available)',
    'actions.reassignReason': 'Why the unit is replaced',
    'reason.breakdown': 'breakdown',
    'reason.accident': 'accident',
    'reason.diverted': 'diverted',
    'actions.failed': 'Could not do it: {e}',
    'actions.forbidden': 'This account may not do this.',
    'actions.done': 'Saved.',
  },
});

// The usual next steps from each status; any other status is in the "other" list.
const NEXT = {
  dispatched: ['en_route', 'on_scene'],
  en_route: ['on_scene'],
  on_scene: ['transporting', 'returning'],
  transporting: ['at_hospital'],
  at_hospital: ['returning', 'completed'],
  returning: ['completed'],
};
const ALL = ['dispatched', 'en_route', 'on_scene', 'transporting', 'at_hospital', 'returning', 'completed', 'cancelled'];
const CONFIRMED = new Set(['cancelled', 'completed']); // closing a journey takes a second click
const CONFIRM_MS = 4000;

function hospitalName(hospital) {
  return lang() === 'en' ? hospital.name_en || hospital.name_vi : hospital.name_vi || hospital.name_en;
}

/** The caller link as a full address on this server (kept under any path prefix). */
function absoluteLink(url) {
  return new URL(String(url).replace(/^\//, ''), PAGES.dispatcher()).toString();
}

export class JourneyActions {
  /**
   * `editor`: may change journeys; `hospitals()` lists the known hospitals; `onReplay(journey)`
   * opens the replay; `onChanged(journeyId)` after a change; `onAuthError()` when the session is gone.
   */
  constructor({ client, editor, hospitals, onReplay, onChanged, onAuthError, siblings = () => [] }) {
    this.siblings = siblings; // the open journeys known to the page (the same incident's among them)
    this.client = client;
    this.editor = editor;
    this.hospitals = hospitals;
    this.onReplay = onReplay;
    this.onChanged = onChanged;
    this.onAuthError = onAuthError;
    this.root = byId('journey-actions');
    this.journey = null;
    this.closed = false;
    this.key = '';
    this.message = null;
    this.link = null; // { journeyId, url, expires_at } or { journeyId, error }
    this.linkBusy = false;
    this.confirming = null;
    this.nearby = new Map(); // journey id -> hospitals ranked from its incident
    this.location = new CallerLocation({
      client,
      onAuthError,
      onChanged,
      rerender: (journeyId) => {
        if (this.journey?.id === journeyId) this.relabel();
      },
    });
  }

  /** Shows the actions for a journey; rebuilt only when what they depend on changed. */
  show(journey, { closed = false } = {}) {
    const incident = journey.incident_id ?? journey.id;
    const units = this.siblings().filter((j) => (j.incident_id ?? j.id) === incident).map((j) => `${j.id}:${j.status}`);
    const key = `${journey.id}|${journey.status}|${journey.destination_hospital_id}|${closed}|${lang()}|${units.join(',')}`;
    if (journey.id !== this.journey?.id) {
      this.message = null;
      this.confirming = null;
      if (this.link?.journeyId !== journey.id) this.link = null;
    }
    this.journey = journey;
    this.closed = closed;
    if (key === this.key) return;
    this.key = key;
    this.render();
    if (this.editor && !closed && !this.nearby.has(journey.id)) this.loadNearby(journey);
  }

  hide() {
    this.journey = null;
    this.key = '';
    this.root.replaceChildren();
  }

  relabel() {
    this.key = '';
    if (this.journey) this.show(this.journey, { closed: this.closed });
  }

  render() {
    const journey = this.journey;
    const parts = [];
    if (this.editor && !this.closed) {
      parts.push(
        this.statusRow(journey),
        this.destinationRow(journey),
        this.callerRow(journey),
        this.location.row(journey),
        this.reassignRow(journey),
        this.unitsRow(journey),
      );
    }
    parts.push(h('div', { class: 'action-row' }, h('button', { type: 'button', id: 'journey-replay', class: 'btn', text: `▶ ${t('actions.replay')}`, onclick: () => this.onReplay(journey) })));
    if (this.message) parts.push(h('p', { id: 'journey-action-message', class: this.message.error ? 'form-error' : 'form-note', role: 'status', text: this.message.text() }));
    this.root.replaceChildren(...parts);
    setData(this.root, 'journeyId', String(journey.id));
  }

  statusRow(journey) {
    const next = NEXT[journey.status] ?? [];
    const buttons = [...next, 'cancelled'].map((status) => {
      const confirming = this.confirming === status;
      return h('button', {
        type: 'button',
        class: 'btn status-action',
        dataset: { statusAction: status, status, confirm: confirming ? '1' : '0' },
        text: confirming ? t('actions.confirm', { s: statusLabel(status) }) : statusLabel(status),
        onclick: () => this.setStatus(status),
      });
    });
    const other = h('select', { id: 'journey-status-other', 'aria-label': t('actions.more') }, h('option', { value: '', text: t('actions.more') }));
    for (const status of ALL.filter((s) => s !== journey.status && !next.includes(s) && s !== 'cancelled')) {
      other.append(h('option', { value: status, text: statusLabel(status) }));
    }
    other.addEventListener('change', () => {
      if (other.value) this.setStatus(other.value);
    });
    return h('div', { class: 'action-row', id: 'journey-status-actions' }, h('h4', { class: 'detail-subtitle', text: t('actions.status') }), buttons, other);
  }

  destinationRow(journey) {
    const select = h('select', { id: 'journey-destination', 'aria-label': t('actions.destination') });
    select.append(h('option', { value: '', text: t('actions.noDestination') }));
    const ranked = this.nearby.get(journey.id);
    const list = ranked ?? [...this.hospitals()].filter((x) => x.has_emergency).sort((a, b) => hospitalName(a).localeCompare(hospitalName(b), 'vi'));
    for (const hospital of list) {
      const travel = ranked ? ` — ${formatMinutes(hospital.duration_s)} · ${formatDistance(hospital.distance_m)}` : '';
      select.append(h('option', { value: String(hospital.id), text: `${hospitalName(hospital)}${travel}`, selected: hospital.id === journey.destination_hospital_id }));
    }
    if (journey.destination_hospital_id == null) select.value = '';
    const button = h('button', { type: 'button', id: 'journey-destination-save', class: 'btn', text: t('actions.changeDestination'), disabled: true });
    select.addEventListener('change', () => {
      button.disabled = (select.value === '' ? null : Number(select.value)) === (journey.destination_hospital_id ?? null);
    });
    button.addEventListener('click', () => this.setDestination(select.value === '' ? null : Number(select.value)));
    return h('div', { class: 'action-row' }, h('h4', { class: 'detail-subtitle', text: t('actions.destination') }), select, button);
  }

  callerRow(journey) {
    const row = h('div', { class: 'action-row', id: 'caller-link-row' });
    const button = h('button', {
      type: 'button',
      id: 'caller-link',
      class: 'btn',
      text: this.linkBusy ? t('actions.callerLinkBusy') : `✉ ${t('actions.callerLink')}`,
      disabled: this.linkBusy,
      onclick: () => this.createCallerLink(journey),
    });
    row.append(button);
    const link = this.link?.journeyId === journey.id ? this.link : null;
    if (link?.error) row.append(h('p', { id: 'caller-link-error', class: 'form-error', text: link.error() }));
    if (link?.url) {
      const input = h('input', { id: 'caller-link-url', type: 'text', readonly: true, value: link.url, 'aria-label': t('actions.callerLinkReady') });
      input.addEventListener('focus', () => input.select());
      const copy = h('button', { type: 'button', id: 'caller-link-copy', class: 'btn', text: t('actions.copy') });
      copy.addEventListener('click', () => this.copy(input, copy));
      const expires = link.expires_at ? t('actions.callerLinkExpires', { t: formatShortTime(link.expires_at) }) : t('actions.callerLinkUntilEnd');
      row.append(
        h(
          'div',
          { class: 'caller-link' },
          h('small', { text: t('actions.callerLinkReady') }),
          h('div', { class: 'caller-link-row' }, input, copy, h('a', { class: 'btn', href: link.url, target: '_blank', rel: 'noopener noreferrer', text: t('actions.open') })),
          h('small', { text: expires }),
        ),
      );
    }
    return row;
  }

  /** A unit failed on the way: the fastest available ambulance takes the journey over. */
  reassignRow(journey) {
    const reason = h(
      'select',
      { id: 'journey-reassign-reason', 'aria-label': t('actions.reassignReason') },
      ...['breakdown', 'accident', 'diverted'].map((r) => h('option', { value: r, text: t(`reason.${r}`) })),
    );
    const button = h('button', {
      type: 'button',
      id: 'journey-reassign',
      class: 'btn',
      text: `⇄ ${t('actions.reassign')}`,
      onclick: () => this.run(() => this.client.reassign(journey.id, null, reason.value), journey),
    });
    return h('div', { class: 'action-row' }, h('h4', { class: 'detail-subtitle', text: t('actions.reassignReason') }), reason, button);
  }

  /** Several units for one incident: who else goes there, and a button sending one more. */
  unitsRow(journey) {
    const incident = journey.incident_id ?? journey.id;
    const units = this.siblings().filter((j) => (j.incident_id ?? j.id) === incident);
    const row = h('div', { class: 'action-row', id: 'incident-units' }, h('h4', { class: 'detail-subtitle', text: t('actions.units') }));
    if (units.length > 1) {
      row.append(h('p', { class: 'form-note', text: units.map((j) => `${j.call_sign} (${statusLabel(j.status)})`).join(' · ') }));
    }
    row.append(
      h('button', {
        type: 'button',
        id: 'incident-add-unit',
        class: 'btn',
        text: `+ ${t('actions.addUnit')}`,
        onclick: () => this.run(() => this.client.addUnit(journey.id, null), journey),
      }),
    );
    return row;
  }

  async loadNearby(journey) {
    try {
      const ranked = await this.client.hospitalsNear(journey.incident_lat, journey.incident_lon);
      this.nearby.set(journey.id, ranked);
      if (this.journey?.id === journey.id) this.relabel();
    } catch (error) {
      if (error instanceof AuthError) this.onAuthError();
    }
  }

  async setStatus(status) {
    const journey = this.journey;
    if (CONFIRMED.has(status) && this.confirming !== status) {
      this.confirming = status;
      this.relabel();
      setTimeout(() => {
        if (this.confirming === status) {
          this.confirming = null;
          this.relabel();
        }
      }, CONFIRM_MS);
      return;
    }
    this.confirming = null;
    await this.run(() => this.client.setJourneyStatus(journey.id, status), journey);
  }

  async setDestination(hospitalId) {
    const journey = this.journey;
    await this.run(() => this.client.setDestination(journey.id, hospitalId), journey);
  }

  /** Runs a change; the answer, or the error in words, shows under the buttons. */
  async run(task, journey) {
    try {
      await task();
      this.message = { text: () => t('actions.done'), error: false };
      this.onChanged(journey.id);
    } catch (error) {
      if (error instanceof AuthError) {
        this.onAuthError();
        return;
      }
      const detail = error.detail || error.message;
      const text = error instanceof ApiError && error.status === 403 ? () => t('actions.forbidden') : () => t('actions.failed', { e: detail });
      this.message = { text, error: true };
    }
    if (this.journey?.id === journey.id) this.relabel();
  }

  async createCallerLink(journey) {
    this.linkBusy = true;
    this.relabel();
    try {
      const answer = await this.client.callerLink(journey.id);
      this.link = { journeyId: journey.id, url: absoluteLink(answer.url ?? `/track/${answer.token}`), expires_at: answer.expires_at ?? null };
    } catch (error) {
      if (error instanceof AuthError) {
        this.onAuthError();
        return;
      }
      // Messages are kept as functions: they are worded again after a language change.
      const detail = error.detail || error.message;
      let text = () => t('actions.failed', { e: detail });
      if (error instanceof ApiError && (error.status === 404 || error.status === 405) && !error.detail.includes('journey')) text = () => t('actions.unavailable');
      if (error instanceof ApiError && error.status === 403) text = () => t('actions.forbidden');
      this.link = { journeyId: journey.id, error: text };
    } finally {
      this.linkBusy = false;
    }
    if (this.journey?.id === journey.id) this.relabel();
    document.getElementById('caller-link-url')?.focus();
  }

  async copy(input, button) {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      // Clipboard API refused (no permission, plain http): the old way.
      input.select();
      document.execCommand?.('copy');
    }
    setText(button, t('actions.copied'));
    setTimeout(() => setText(button, t('actions.copy')), 2000);
  }
}
