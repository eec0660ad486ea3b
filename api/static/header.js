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
 * Shows the stream state: 'connecting' | 'retrying' | 'connected' | 'reconnecting' | 'auth'.
 * While waiting to reconnect, counts down to `retryAt` (epoch ms).
 */
export function renderConnection({ state, retryAt }, nowMs = Date.now()) {
  const indicator = byId('conn-status');
  let text;
  if (state === 'connected') text = t('conn.connected');
  else if (state === 'auth') text = t('conn.auth');
  else if (state === 'reconnecting') text = t('conn.reconnecting', { s: Math.max(1, Math.ceil((retryAt - nowMs) / 1000)) });
  else if (state === 'retrying') text = t('conn.retrying');
  else text = t('conn.connecting');
  setData(indicator, 'state', state === 'retrying' ? 'reconnecting' : state);
  setData(document.body, 'connection', state);
  setText(byId('conn-text'), text);
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
