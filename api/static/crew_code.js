/**
 * A crew tablet's sign-in from the dispatcher's page: on the selected vehicle's card, dispatchers
 * and admins get a QR code (a single-use code, valid a few minutes) that the crew scans with the
 * tablet to open /crew signed in as that vehicle's crew.
 */

import { ApiError, AuthError } from './api.js';
import { h } from './dom.js';
import { formatShortTime } from './format.js';
import { addStrings, t } from './i18n.js';

addStrings({
  vi: {
    'crewcode.button': 'Mã QR đăng nhập cho máy tính bảng của kíp xe',
    'crewcode.hint': 'Quét bằng máy tính bảng của xe {c}. Dùng một lần, hết hạn lúc {t}.',
    'crewcode.failed': 'Không tạo được mã: {e}',
    'crewcode.alt': 'Mã QR đăng nhập kíp xe {c}',
  },
  en: {
    'crewcode.button': "QR sign-in code for the crew's tablet",
    'crewcode.hint': "Scan it with unit {c}'s tablet. Single use, expires at {t}.",
    'crewcode.failed': 'Could not make a code: {e}',
    'crewcode.alt': 'Crew sign-in QR code for unit {c}',
  },
});

/** Test hook: the last code shown (its address). */
const ambCrewCode = { url: null };
window.ambCrewCode = ambCrewCode;

export class CrewCodeCard {
  constructor({ client, editor, onAuthError }) {
    this.client = client;
    this.onAuthError = onAuthError;
    this.root = h('div', { class: 'crew-code', id: 'crew-code' });
    this.root.hidden = !editor;
    this.vehicle = null;
  }

  /** The card for a newly selected vehicle (a code shown for another vehicle goes). */
  show(vehicle) {
    if (this.vehicle?.id === vehicle.id) return;
    this.vehicle = vehicle;
    this.render(null);
  }

  render(code, problem = '') {
    const button = h('button', { type: 'button', class: 'btn', id: 'crew-code-issue', text: t('crewcode.button'), onclick: () => this.issue() });
    const parts = [button];
    if (problem) parts.push(h('p', { class: 'form-error', text: problem }));
    if (code) {
      const c = this.vehicle.call_sign ?? this.vehicle.id;
      // The server's QR code as an image (never inserted as markup).
      parts.push(
        h('img', { id: 'crew-code-qr', src: code.qr_data_uri, alt: t('crewcode.alt', { c }), width: 180, height: 180 }),
        h('small', { text: t('crewcode.hint', { c, t: formatShortTime(code.expires_at) }) }),
      );
    }
    this.root.replaceChildren(...parts);
  }

  async issue() {
    const vehicle = this.vehicle;
    try {
      const code = await this.client.crewCode(vehicle.id);
      ambCrewCode.url = new URL(code.url, window.location.origin).toString();
      if (this.vehicle?.id === vehicle.id) this.render(code);
    } catch (error) {
      if (error instanceof AuthError) {
        this.onAuthError();
        return;
      }
      const detail = error instanceof ApiError ? error.detail || error.message : String(error);
      this.render(null, t('crewcode.failed', { e: detail }));
    }
  }
}
