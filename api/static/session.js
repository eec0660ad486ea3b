/**
 * Who is using the page: an API key from `#token=` (integrations, wall screens; kept for this tab)
 * or the browser session from /login. Pages without either go to the login page.
 */

import { ApiError, AuthError, createApiClient } from './api.js';
import { clearToken, takeTokenFromUrl } from './auth.js';

export const ROLES = ['admin', 'dispatcher', 'hospital', 'viewer', 'crew'];
const EDITORS = ['admin', 'dispatcher'];

/** Page addresses, resolved from this module (/static/…) so they work behind a path prefix too. */
export const PAGES = {
  dispatcher: () => new URL('../', import.meta.url),
  board: () => new URL('../board', import.meta.url),
  analytics: () => new URL('../analytics', import.meta.url),
  crew: () => new URL('../crew', import.meta.url),
  login: () => new URL('../login', import.meta.url),
};

/** Whether a user may dispatch, override statuses and edit geofences (unknown role: the API decides). */
export function canEdit(user) {
  return !user || EDITORS.includes(user.role);
}

/** The login page, asked to come back here afterwards. */
export function loginUrl({ expired = false } = {}) {
  const url = PAGES.login();
  const here = `${window.location.pathname}${window.location.search}`;
  if (here !== url.pathname) url.searchParams.set('next', here);
  if (expired) url.searchParams.set('expired', '1');
  return url.toString();
}

/** Leaves for the login page (replacing this entry: Back should not return to a page that cannot load). */
let leaving = false;

/** Leaves for the login page, once: a second call (the stream and a fetch both refused) would
 * abort the first navigation and restart it. */
export function goToLogin(options) {
  if (leaving) return;
  leaving = true;
  window.location.replace(loginUrl(options));
}

/**
 * The user behind an /auth/me answer: the session's user, or for an API key a user-like record
 * built from the key's principal ({ username: key name, role, hospital_id, via: 'api_key' }).
 */
export function describeCaller(me) {
  if (me?.user) return me.user;
  const principal = me?.principal;
  if (!principal?.role) return null;
  return { id: null, username: principal.name ?? '', display_name: principal.name ?? '', role: principal.role, hospital_id: principal.hospital_id ?? null, via: 'api_key' };
}

/**
 * Opens the page's session. Resolves:
 * - { mode: 'token', client, user } with an API key (user null when the API does not describe keys);
 * - { mode: 'session', client, user } with a browser session;
 * - { mode: 'none' } when this server has no accounts (old API: the page asks for a key instead);
 * - { mode: 'login' } after redirecting to the login page (no session).
 * Network failures reject (the caller retries).
 */
export async function openSession() {
  const token = takeTokenFromUrl();
  if (token) {
    const client = createApiClient({ token });
    let user = null;
    try {
      user = describeCaller(await client.me());
    } catch (error) {
      if (!(error instanceof AuthError || error instanceof ApiError)) throw error;
    }
    return { mode: 'token', client, user };
  }
  try {
    const me = await createApiClient({}).me();
    return { mode: 'session', client: createApiClient({ csrf: me.csrf_token }), user: me.user ?? null };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return { mode: 'none' };
    if (error instanceof AuthError) {
      goToLogin();
      return { mode: 'login' };
    }
    throw error;
  }
}

/** Ends the session (or forgets the key) and goes to the login page. */
export async function signOut(session) {
  if (session.mode === 'session') {
    try {
      await session.client.logout();
    } catch (error) {
      console.warn('logout failed', error);
    }
  } else {
    clearToken();
  }
  window.location.replace(PAGES.login().toString());
}
