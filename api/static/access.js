/** The access screen shown instead of the map when there is no token or the API refuses it. */

import { clearToken, storeToken } from './auth.js';
import { byId, h } from './dom.js';
import { tIn } from './i18n.js';

/** Replaces the console with the bilingual access message; `reason` is 'missing' or 'denied'. */
export function showAccessRequired(reason) {
  if (reason === 'denied') clearToken();
  const section = byId('access-required');
  const content = byId('access-content');
  const both = (key) => ['vi', 'en'].map((language) => h('p', { lang: language, class: `access-${language}`, text: tIn(language, key) }));
  const input = h('input', {
    id: 'token-input',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-label': `${tIn('vi', 'access.label')} / ${tIn('en', 'access.label')}`,
  });
  const form = h(
    'form',
    { id: 'token-form', class: 'access-form' },
    h('label', { for: 'token-input', text: `${tIn('vi', 'access.label')} / ${tIn('en', 'access.label')}` }),
    h('div', { class: 'access-input-row' }, input, h('button', { type: 'submit', text: `${tIn('vi', 'access.submit')} / ${tIn('en', 'access.submit')}` })),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    storeToken(token);
    window.location.reload();
  });
  const parts = [
    h('h2', { lang: 'vi', text: tIn('vi', 'access.title') }),
    h('h2', { lang: 'en', class: 'access-en', text: tIn('en', 'access.title') }),
    reason === 'denied' ? h('div', { class: 'access-denied', role: 'alert' }, both('access.denied')) : null,
    h('div', { class: 'access-body' }, both('access.body')),
    form,
  ];
  content.replaceChildren(...parts.filter(Boolean));
  document.body.dataset.auth = reason;
  byId('app').hidden = true;
  section.hidden = false;
  input.focus();
}
