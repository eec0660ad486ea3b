/** Header widgets: Da Nang clock, live-connection indicator and the VI | EN toggle. */

import { byId, setData, setText } from './dom.js';
import { formatClock } from './format.js';
import { lang, setLang, t } from './i18n.js';

/** Updates the clock (Asia/Ho_Chi_Minh whatever the PC's own time zone). */
export function renderClock(now) {
  const { time, date } = formatClock(now);
  setText(byId('clock-time'), time);
  setText(byId('clock-date'), date);
  byId('clock').setAttribute('datetime', now.toISOString());
}

/**
 * Shows the stream state: 'connecting' | 'connected' | 'reconnecting' | 'auth'. While waiting
 * to reconnect, counts down to `retryAt` (epoch ms).
 */
export function renderConnection({ state, retryAt }, nowMs = Date.now()) {
  const labels = {
    connected: 'conn.connected',
    auth: 'conn.auth',
    reconnecting: 'conn.reconnecting',
    connecting: 'conn.connecting',
  };
  const waiting = state === 'reconnecting' && retryAt > nowMs ? Math.ceil((retryAt - nowMs) / 1000) : 0;
  setData(byId('conn-status'), 'state', state);
  setData(document.body, 'connection', state);
  setText(byId('conn-text'), t(labels[state] ?? 'conn.connecting'));
  setText(byId('conn-detail'), waiting ? t('conn.retryIn', { s: waiting }) : '');
}

/** Wires the VI | EN buttons; the pressed one mirrors the current language. */
export function bindLanguageToggle() {
  const buttons = document.querySelectorAll('[data-lang-choice]');
  const mark = () => {
    for (const button of buttons) button.setAttribute('aria-pressed', String(button.dataset.langChoice === lang()));
  };
  for (const button of buttons) button.addEventListener('click', () => setLang(button.dataset.langChoice));
  mark();
  return mark;
}
