/** HTTP client for the dispatcher API: bearer auth on every call, auth failures as a distinct error. */

// The API lives beside /static, so resolve from this module: works at / and behind a path prefix.
const API_BASE = new URL('../api/v1/', import.meta.url);

/** The API refused the token (HTTP 401/403 or websocket close 4401/4403). */
export class AuthError extends Error {
  constructor(status) {
    super(`access refused (${status})`);
    this.name = 'AuthError';
    this.status = status;
  }
}

/** Any other failed call: network error, 5xx, malformed body. */
export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** Creates a client bound to one token. */
export function createApiClient(token) {
  async function getJson(path) {
    let response;
    try {
      response = await fetch(new URL(path, API_BASE), {
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
        cache: 'no-store',
      });
    } catch (error) {
      throw new ApiError(`GET ${path}: ${error.message}`);
    }
    if (response.status === 401 || response.status === 403) throw new AuthError(response.status);
    if (!response.ok) throw new ApiError(`GET ${path}: HTTP ${response.status}`, response.status);
    try {
      return await response.json();
    } catch (error) {
      throw new ApiError(`GET ${path}: invalid JSON (${error.message})`, response.status);
    }
  }

  return {
    config: () => getJson('config'),
    roads: () => getJson('roads'),
    hospitals: async () => (await getJson('hospitals')).hospitals ?? [],
    vehicles: async () => (await getJson('vehicles')).vehicles ?? [],
    /** The latest stored events, newest first. */
    events: async (limit = 100) => (await getJson(`events?limit=${encodeURIComponent(limit)}`)).events ?? [],
    openJourneys: async () => (await getJson('journeys?open=true')).journeys ?? [],
    /** One journey with its status log. */
    journey: (id) => getJson(`journeys/${encodeURIComponent(id)}`),
    geofences: () => getJson('geofences'),
    /** ws(s)://host/api/v1/stream?token=… (browsers cannot set headers on a websocket). */
    streamUrl() {
      const url = new URL('stream', API_BASE);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.searchParams.set('token', token);
      return url.toString();
    },
  };
}
