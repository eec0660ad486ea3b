/** What every signed-in page does first: language, header clock and toggle, then who is here. */

import { byId } from './dom.js';
import { bindLanguageToggle, renderClock } from './header.js';
import { initLang } from './i18n.js';
import { openSession } from './session.js';
import { backoffDelay } from './stream.js';

/** Applies the remembered language and starts the Da Nang clock; returns { markToggle, clockTick }. */
export function startHeader() {
  initLang();
  const markToggle = bindLanguageToggle();
  const clockTick = () => renderClock(new Date());
  clockTick();
  setInterval(clockTick, 1000);
  return { markToggle, clockTick };
}

/** openSession(), retried with backoff while the server cannot be reached (the banner says so). */
export async function openSessionWithRetry() {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const session = await openSession();
      byId('load-error').hidden = true;
      return session;
    } catch (error) {
      console.warn('session check failed', error);
      byId('load-error').hidden = false;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt)));
    }
  }
}
