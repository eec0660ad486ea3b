/**
 * HTTP client for the API. Two ways in: an API key (`Authorization: Bearer`, integrations and
 * wall screens opened with `#token=`), or the browser session (its HttpOnly cookie travels by
 * itself; every unsafe request carries the session's `X-CSRF-Token`). Auth failures are a
 * distinct error.
 */

// The API lives beside /static, so resolve from this module: works at any page and behind a path prefix.
export const API_BASE = new URL('../api/v1/', import.meta.url);
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The API refused the caller (HTTP 401/403 on a read, 401 on a write, websocket close 4401/4403). */
export class AuthError extends Error {
  constructor(status) {
    super(`access refused (${status})`);
    this.name = 'AuthError';
    this.status = status;
  }
}

/**
 * Any other failed call: network error (status 0), 4xx/5xx, malformed body. `detail` is the
 * API's own message when it gave one; `retryAfter` (seconds) comes with a 429.
 */
export class ApiError extends Error {
  constructor(message, status = 0, { detail = '', retryAfter = 0 } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

/** The `detail` of a FastAPI error body as one line ('' when there is none). */
function detailOf(body) {
  const detail = body?.detail;
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) return detail.map((item) => item?.msg ?? '').filter(Boolean).join('; ');
  return '';
}

/**
 * One HTTP call to `API_BASE + path`. `headers` are added to Accept; `body` is sent as JSON.
 * `authErrors` lists the statuses that mean "who you are is not accepted" (thrown as AuthError).
 */
export async function requestJson(method, path, { headers = {}, body, authErrors = [401, 403] } = {}) {
  const init = {
    method,
    headers: { Accept: 'application/json', ...headers },
    cache: 'no-store',
    credentials: 'same-origin',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, API_BASE), init);
  } catch (error) {
    throw new ApiError(`${method} ${path}: ${error.message}`);
  }
  if (authErrors.includes(response.status)) throw new AuthError(response.status);
  if (response.status === 204) return null;
  let parsed = null;
  let parseError = null;
  try {
    parsed = await response.json();
  } catch (error) {
    parseError = error;
  }
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    throw new ApiError(`${method} ${path}: HTTP ${response.status}`, response.status, {
      detail: detailOf(parsed),
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : 0,
    });
  }
  if (parseError) throw new ApiError(`${method} ${path}: invalid JSON (${parseError.message})`, response.status);
  return parsed;
}

/** Signs in; resolves { user, csrf_token } (ApiError 401: bad credentials, 429: wait `retryAfter`). */
export function login(username, password) {
  return requestJson('POST', 'auth/login', { body: { username, password }, authErrors: [] });
}

/**
 * Creates a client. `auth` is { token } (an API key) or { csrf } (the session's CSRF token; the
 * cookie goes by itself); a bare string is taken as a token.
 */
export function createApiClient(auth = {}) {
  const { token = '', csrf = '' } = typeof auth === 'string' ? { token: auth } : auth;
  let csrfToken = csrf;

  function headersFor(method) {
    if (token) return { Authorization: `Bearer ${token}` };
    return UNSAFE.has(method) && csrfToken ? { 'X-CSRF-Token': csrfToken } : {};
  }

  const getJson = (path) => requestJson('GET', path, { headers: headersFor('GET') });
  // A refused write (403: role or CSRF) is a message for the user, not a reason to leave the page.
  const send = (method, path, body) => requestJson(method, path, { headers: headersFor(method), body, authErrors: [401] });
  const id = (value) => encodeURIComponent(value);

  return {
    /** 'token' (API key) or 'session' (browser login). */
    mode: token ? 'token' : 'session',
    setCsrf(value) {
      csrfToken = value || '';
    },
    /** { user, csrf_token } of the session (or of the key, when the API says). */
    me: () => requestJson('GET', 'auth/me', { headers: headersFor('GET'), authErrors: [401] }),
    logout: () => send('POST', 'auth/logout'),
    config: () => getJson('config'),
    /** After a failed websocket handshake: false when the API refuses these credentials. */
    async credentialsAccepted() {
      try {
        await getJson('config');
        return true;
      } catch (error) {
        return !(error instanceof AuthError);
      }
    },
    roads: () => getJson('roads'),
    hospitals: async () => (await getJson('hospitals')).hospitals ?? [],
    /** Emergency hospitals ranked by road time from a point (each with duration_s, distance_m). */
    hospitalsNear: async (lat, lon) => (await getJson(`hospitals?near=${id(`${lat},${lon}`)}&emergency=true`)).hospitals ?? [],
    inbound: (hospitalId) => getJson(`hospitals/${id(hospitalId)}/inbound`),
    vehicles: async () => (await getJson('vehicles')).vehicles ?? [],
    /** Available ambulances ranked by road time to a point (each with duration_s, distance_m). */
    fastestUnits: async (lat, lon, limit = 8) =>
      (await getJson(`units/fastest?lat=${id(lat)}&lon=${id(lon)}&limit=${id(limit)}`)).units ?? [],
    /** Road route from a vehicle to a point or a hospital: distance_m, duration_s, arrival_at, route. */
    eta: ({ vehicleId, lat, lon, hospitalId }) =>
      getJson(
        hospitalId != null
          ? `eta?vehicle_id=${id(vehicleId)}&hospital_id=${id(hospitalId)}`
          : `eta?vehicle_id=${id(vehicleId)}&lat=${id(lat)}&lon=${id(lon)}`,
      ),
    /** The latest stored events, newest first. */
    events: async (limit = 100) => (await getJson(`events?limit=${id(limit)}`)).events ?? [],
    openJourneys: async () => (await getJson('journeys?open=true')).journeys ?? [],
    /** The latest journeys, open and closed, newest first. */
    recentJourneys: async (limit = 40) => (await getJson(`journeys?open=false&limit=${id(limit)}`)).journeys ?? [],
    /** One journey with its status log. */
    journey: (journeyId) => getJson(`journeys/${id(journeyId)}`),
    replay: (journeyId) => getJson(`journeys/${id(journeyId)}/replay`),
    createJourney: (body) => send('POST', 'journeys', body),
    setJourneyStatus: (journeyId, status) => send('POST', `journeys/${id(journeyId)}/status`, { status, source: 'dispatcher' }),
    setDestination: (journeyId, hospitalId) => send('PATCH', `journeys/${id(journeyId)}`, { destination_hospital_id: hospitalId }),
    /** { token, url, expires_at }: the public tracking page for the caller. */
    callerLink: (journeyId) => send('POST', `journeys/${id(journeyId)}/caller-link`),
    /** An analytics answer: `analytics/<what>?<query>` (admin and viewer roles). */
    analytics: (what, query = '') => getJson(`analytics/${what}${query ? `?${query}` : ''}`),
    /** A file the API makes (CSV, PDF) as a Blob, sent with this client's credentials. */
    async download(path) {
      let response;
      try {
        response = await fetch(new URL(path, API_BASE), { headers: headersFor('GET'), cache: 'no-store', credentials: 'same-origin' });
      } catch (error) {
        throw new ApiError(`GET ${path}: ${error.message}`);
      }
      if (response.status === 401 || response.status === 403) throw new AuthError(response.status);
      if (!response.ok) throw new ApiError(`GET ${path}: HTTP ${response.status}`, response.status);
      return response.blob();
    },
    /** { id, token, url, expires_at }: a link asking the caller to share the phone's position. */
    locationRequest: (journeyId) => send('POST', `journeys/${id(journeyId)}/location-request`),
    acceptLocation: (requestId) => send('POST', `location-requests/${id(requestId)}/accept`),
    /** Replaces the journey's vehicle (`vehicleId` null: the fastest available by road). */
    /** { code, url, expires_at, qr_data_uri }: a single-use sign-in code for a vehicle's crew tablet. */
    crewCode: (vehicleId) => send('POST', `vehicles/${id(vehicleId)}/crew-code`),
    /** Sends another ambulance to the journey's incident (`vehicleId` null: the fastest by road). */
    addUnit: (journeyId, vehicleId) => send('POST', `journeys/${id(journeyId)}/units`, { vehicle_id: vehicleId }),
    reassign: (journeyId, vehicleId, reason) => send('POST', `journeys/${id(journeyId)}/reassign`, { vehicle_id: vehicleId, reason }),
    geofences: () => getJson('geofences'),
    createGeofence: (body) => send('POST', 'geofences', body),
    updateGeofence: (geofenceId, changes) => send('PATCH', `geofences/${id(geofenceId)}`, changes),
    deleteGeofence: (geofenceId) => send('DELETE', `geofences/${id(geofenceId)}`),
    /**
     * ws(s)://host/api/v1/stream, never with a secret that outlives it: a session's cookie goes by
     * itself; with an API key (browsers cannot set websocket headers) the key is first traded for
     * a single-use ticket valid a few seconds (`POST stream/ticket`), so no key reaches a URL or a log.
     */
    async streamUrl() {
      const url = new URL('stream', API_BASE);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      if (token) {
        const { ticket } = await requestJson('POST', 'stream/ticket', { headers: headersFor('POST') });
        url.searchParams.set('ticket', ticket);
      }
      return url.toString();
    },
  };
}
