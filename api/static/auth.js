/** The access token: taken from the URL fragment once, then kept in sessionStorage for this tab. */

const STORAGE_KEY = 'amb.token';
let memoryToken = '';

function readStored() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) || memoryToken;
  } catch {
    return memoryToken;
  }
}

/** Remembers a token for this tab (sessionStorage, or memory when storage is disabled). */
export function storeToken(token) {
  memoryToken = token;
  try {
    sessionStorage.setItem(STORAGE_KEY, token);
  } catch {
    // Kept in memory only.
  }
}

/** Forgets the token, e.g. after the API refused it. */
export function clearToken() {
  memoryToken = '';
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored.
  }
}

/**
 * Moves `#token=…` from the address bar into storage (so it does not linger in history or
 * screenshots) and returns the token to use, or '' when there is none.
 */
export function takeTokenFromUrl() {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const token = (fragment.get('token') || '').trim();
  if (token) {
    storeToken(token);
    fragment.delete('token');
    const rest = fragment.toString();
    const { pathname, search } = window.location;
    window.history.replaceState(window.history.state, '', `${pathname}${search}${rest ? `#${rest}` : ''}`);
  }
  return readStored();
}
