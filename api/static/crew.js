/**
 * The crew's tablet (/crew): the vehicle's assignment as it is dispatched (with a sound), the
 * incident's address and note, the scene and destination on a map with the road route and ETA, big
 * status buttons (sent with the tablet's time; kept in an outbox while offline), and a change of
 * destination hospital with a reason. Signs in with a code from the address (`#code=`, the QR code
 * a dispatcher shows) or a crew account's session. Sees only its own vehicle and journey.
 */

import { ApiError, AuthError, requestJson } from './api.js';
import { byId, h, setText } from './dom.js';
import { TIME_ZONE, formatDistance } from './format.js';
import { initLang, onLangChange, setLang, t } from './i18n.js';
import { normaliseConfig } from './config.js';
import { addRoads, createMap } from './map.js';
import { Outbox } from './crew_queue.js';
import { BrowserTracker } from './crew_tracker.js';
import './crew_strings.js';

const L = window.L;
const POLL_MS = 2000;
const BUTTONS = ['en_route', 'on_scene', 'transporting', 'at_hospital', 'completed'];
const ORDER = ['dispatched', ...BUTTONS.slice(0, 4), 'returning', 'completed'];

/** HH:MM:SS in Vietnam's time (a press's own second matters in the log). */
function clockOf(iso) {
  return new Date(iso).toLocaleTimeString('vi-VN', { timeZone: TIME_ZONE, hour12: false });
}

/** Test hook: what the tablet shows and holds. */
const ambCrew = { ready: false, journeyId: null, status: null, pending: 0, polls: 0, alerts: 0, refused: [], tracker: null };
window.ambCrew = ambCrew;

class CrewApp {
  constructor() {
    this.csrf = '';
    this.view = null;
    this.hospitals = [];
    this.knownJourney = undefined; // undefined until the first answer: no sound for what was there
    this.map = null;
    this.layers = null;
    this.timer = 0;
    this.tracker = new BrowserTracker(
      () => requestJson('POST', 'crew/tracker', { body: {}, headers: { 'X-CSRF-Token': this.csrf } }),
      { onChange: () => this.renderTracker() },
    );
    this.outbox = new Outbox((press) => this.sendPress(press), {
      onChange: () => this.render(),
      onRefused: (press, error) => this.refused(press, error),
    });
  }

  async start() {
    initLang();
    for (const button of document.querySelectorAll('[data-lang-choice]')) {
      button.addEventListener('click', () => setLang(button.dataset.langChoice));
    }
    onLangChange(() => {
      this.render();
      this.renderTracker();
    });
    window.addEventListener('online', () => this.connectionChanged());
    window.addEventListener('offline', () => this.connectionChanged());
    if ('serviceWorker' in navigator) navigator.serviceWorker.register('/crew/sw.js', { scope: '/crew' }).catch(() => {});
    if (!(await this.signIn())) return;
    byId('crew-main').hidden = false;
    this.wireDestinationForm();
    byId('crew-tracker').addEventListener('click', () => this.toggleTracker());
    this.renderTracker();
    await this.setUpMap();
    ambCrew.ready = true;
    document.body.dataset.ready = '1';
    this.poll();
  }

  /** A sign-in code from the address first (then gone from it), else the current session. */
  async signIn() {
    const code = new URLSearchParams(window.location.hash.slice(1)).get('code');
    if (code) {
      history.replaceState(null, '', window.location.pathname);
      try {
        await requestJson('POST', 'auth/crew-code', { body: { code }, authErrors: [] });
      } catch {
        return this.showSignIn('crew.codeBad');
      }
    }
    let me;
    try {
      me = await requestJson('GET', 'auth/me');
    } catch {
      return this.showSignIn(null);
    }
    if (me?.user?.role !== 'crew') return this.showSignIn('crew.notCrew');
    this.csrf = me.csrf_token;
    return true;
  }

  showSignIn(problemKey) {
    byId('crew-signin').hidden = false;
    if (problemKey) setText(byId('crew-signin-body'), t(problemKey));
    document.body.dataset.state = 'signin';
    return false;
  }

  async setUpMap() {
    let config = normaliseConfig(null);
    try {
      config = normaliseConfig(await requestJson('GET', 'config'));
    } catch {
      // Defaults: Da Nang's centre.
    }
    this.map = createMap(byId('crew-map'), config);
    this.layers = L.layerGroup().addTo(this.map);
    if (!config.tile_url) {
      requestJson('GET', 'roads')
        .then((roads) => addRoads(this.map, roads))
        .catch(() => {});
    }
  }

  async poll() {
    clearTimeout(this.timer);
    try {
      const view = await requestJson('GET', 'crew/journey');
      this.online = true;
      this.arrived(view);
    } catch (error) {
      this.online = false;
      if (error instanceof AuthError) this.showSignIn(null);
    }
    ambCrew.polls += 1;
    this.outbox.flush().then(() => this.render());
    this.render();
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  arrived(view) {
    const id = view.journey?.id ?? null;
    if (this.knownJourney !== undefined && id !== null && id !== this.knownJourney) this.alertNewJourney();
    if (id !== this.knownJourney && id !== null) this.loadHospitals(view.journey);
    this.knownJourney = id;
    this.view = view;
  }

  connectionChanged() {
    this.render();
    if (navigator.onLine) this.poll();
  }

  /** A sound (three beeps) and a banner: a new assignment. */
  alertNewJourney() {
    ambCrew.alerts += 1;
    const alert = byId('crew-alert');
    alert.hidden = false;
    setText(alert, t('crew.newJourney'));
    setTimeout(() => {
      alert.hidden = true;
    }, 15000);
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      for (let i = 0; i < 3; i += 1) {
        const osc = audio.createOscillator();
        osc.frequency.value = 880;
        osc.connect(audio.destination);
        osc.start(audio.currentTime + i * 0.4);
        osc.stop(audio.currentTime + i * 0.4 + 0.25);
      }
    } catch {
      // No audio (autoplay refused before a touch): the banner remains.
    }
    if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
  }

  async toggleTracker() {
    if (this.tracker.on) this.tracker.stop();
    else {
      try {
        if (!(await this.tracker.start())) setText(byId('crew-tracker-state'), t('crew.tracker.none'));
      } catch (error) {
        this.refused({ status: 'en_route' }, error);
      }
    }
    this.renderTracker();
  }

  renderTracker() {
    const button = byId('crew-tracker');
    const on = this.tracker.on;
    button.setAttribute('aria-pressed', on ? 'true' : 'false');
    setText(button, t(on ? 'crew.tracker.stop' : 'crew.tracker.start'));
    const { acknowledged } = this.tracker.stats;
    ambCrew.tracker = { on, acknowledged, buffered: this.tracker.buffer.length, lastStatus: this.tracker.stats.lastStatus };
    setText(byId('crew-tracker-state'), on || this.tracker.buffer.length ? t('crew.tracker.state', { a: acknowledged, b: this.tracker.buffer.length }) : '');
  }

  sendPress(press) {
    return requestJson('POST', 'crew/status', {
      body: press,
      headers: { 'X-CSRF-Token': this.csrf },
      authErrors: [],
    });
  }

  refused(press, error) {
    const detail = error instanceof ApiError ? error.detail || error.message : String(error);
    ambCrew.refused.push({ status: press.status, detail });
    const alert = byId('crew-alert');
    alert.hidden = false;
    setText(alert, t('crew.refused', { s: t(`crew.btn.${press.status}`), d: detail }));
  }

  press(status) {
    const journey = this.view?.journey;
    if (!journey) return;
    this.outbox.press(journey.id, status).then(() => this.poll());
  }

  /** The status shown: the latest press still in the outbox, else the server's. */
  shownStatus() {
    const journey = this.view?.journey;
    if (!journey) return null;
    const mine = this.outbox.items.filter((p) => p.journey_id === journey.id);
    return mine.length ? mine[mine.length - 1].status : journey.status;
  }

  async loadHospitals(journey) {
    try {
      const near = `${journey.incident_lat},${journey.incident_lon}`;
      const answer = await requestJson('GET', `hospitals?emergency=true&near=${encodeURIComponent(near)}`);
      this.hospitals = answer.hospitals ?? [];
    } catch {
      this.hospitals = [];
    }
    this.render();
  }

  wireDestinationForm() {
    const form = byId('crew-dest-form');
    byId('crew-dest-open').addEventListener('click', () => {
      form.hidden = false;
    });
    byId('crew-dest-cancel').addEventListener('click', () => {
      form.hidden = true;
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const journey = this.view?.journey;
      if (!journey) return;
      const body = {
        journey_id: journey.id,
        hospital_id: Number(byId('crew-dest-hospital').value),
        reason: byId('crew-dest-reason').value,
      };
      try {
        await requestJson('POST', 'crew/destination', { body, headers: { 'X-CSRF-Token': this.csrf } });
        form.hidden = true;
        const alert = byId('crew-alert');
        alert.hidden = false;
        setText(alert, t('crew.destChanged'));
      } catch (error) {
        this.refused({ status: 'transporting' }, error);
      }
      this.poll();
    });
  }

  render() {
    const online = navigator.onLine && this.online !== false;
    document.body.dataset.online = online ? '1' : '0';
    const pending = this.outbox.items.length;
    ambCrew.pending = pending;
    const conn = online ? t('crew.online') : t('crew.offline');
    setText(byId('crew-conn'), pending ? `${conn} · ${t('crew.pending', { n: pending })}` : conn);
    const view = this.view;
    if (!view) return;
    setText(byId('crew-unit'), t('crew.vehicle', { c: view.vehicle.call_sign }));
    const journey = view.journey;
    ambCrew.journeyId = journey?.id ?? null;
    byId('crew-idle').hidden = Boolean(journey);
    byId('crew-journey').hidden = !journey;
    const status = this.shownStatus();
    ambCrew.status = status;
    document.body.dataset.state = journey ? status : 'idle';
    if (journey) this.renderJourney(journey, status);
    this.renderLog(journey);
    this.renderMap(view);
  }

  renderJourney(journey, status) {
    setText(byId('crew-status'), t(`status.${status}`));
    setText(byId('crew-address'), journey.incident_address || '—');
    setText(byId('crew-note'), journey.note || '—');
    const name = journey.destination_name_vi && (document.documentElement.lang === 'en' ? journey.destination_name_en || journey.destination_name_vi : journey.destination_name_vi);
    setText(byId('crew-destination'), name || t('crew.noDestination'));
    const route = journey.route;
    setText(
      byId('crew-eta'),
      route
        ? `${t(`crew.eta.${route.target}`)}: ${t('crew.eta', { m: t('crew.minutes', { n: Math.max(1, Math.round(route.duration_s / 60)) }), d: formatDistance(route.distance_m) })}`
        : t('crew.etaUnknown'),
    );
    const at = ORDER.indexOf(status);
    const next = ORDER[at + 1] === 'returning' ? 'completed' : ORDER[at + 1];
    byId('crew-buttons').replaceChildren(
      ...BUTTONS.map((s) =>
        h('button', {
          type: 'button',
          text: t(`crew.btn.${s}`),
          class: s === next ? 'next' : ORDER.indexOf(s) <= at ? 'done' : '',
          dataset: { status: s },
          onclick: () => this.press(s),
        }),
      ),
    );
    this.renderDestinationChoices(journey);
  }

  renderDestinationChoices(journey) {
    const hospital = byId('crew-dest-hospital');
    const en = document.documentElement.lang === 'en';
    const chosen = hospital.value;
    hospital.replaceChildren(
      ...this.hospitals
        .filter((x) => x.id !== journey.destination_hospital_id)
        .map((x) => {
          const minutes = t('crew.minutes', { n: Math.max(1, Math.round((x.duration_s ?? 0) / 60)) });
          return h('option', { value: String(x.id), text: `${en ? x.name_en || x.name_vi : x.name_vi} · ${minutes}` });
        }),
    );
    if (chosen) hospital.value = chosen;
    const reason = byId('crew-dest-reason');
    const picked = reason.value;
    reason.replaceChildren(
      ...(this.view?.destination_reasons ?? []).map((r) => h('option', { value: r, text: t(`crew.reason.${r}`) })),
    );
    if (picked) reason.value = picked;
  }

  renderLog(journey) {
    const rows = (journey?.status_log ?? []).map((row) => {
      const who = t(`crew.log.source.${row.source}`);
      const text = `${clockOf(row.at)} · ${t(`status.${row.to_status}`)} · ${who}`;
      const item = h('li', { text, class: row.queued ? 'queued' : '' });
      if (row.queued) item.append(h('span', { text: ` (${t('crew.log.queued', { t: clockOf(row.logged_at) })})` }));
      return item;
    });
    for (const press of this.outbox.items.filter((p) => p.journey_id === journey?.id)) {
      const text = `${clockOf(press.at)} · ${t(`status.${press.status}`)} · ${t('crew.log.waiting')}`;
      rows.push(h('li', { text, class: 'waiting' }));
    }
    byId('crew-log').replaceChildren(...rows.reverse());
  }

  renderMap(view) {
    if (!this.map) return;
    this.layers.clearLayers();
    const points = [];
    const position = view.vehicle.position;
    if (position) {
      const here = [position.lat, position.lon];
      points.push(here);
      L.marker(here, {
        icon: L.divIcon({ className: 'crew-marker', iconSize: [20, 20] }),
        title: t('crew.you'),
      }).addTo(this.layers);
    }
    const journey = view.journey;
    if (journey) {
      const scene = [journey.incident_lat, journey.incident_lon];
      points.push(scene);
      L.marker(scene, { icon: L.divIcon({ className: 'crew-scene', iconSize: [18, 18] }), title: t('crew.scene') }).addTo(
        this.layers,
      );
      if (journey.route?.geometry) {
        L.geoJSON(journey.route.geometry, { style: { color: '#1565c0', weight: 6, opacity: 0.8 } }).addTo(this.layers);
      }
    }
    const key = `${journey?.id ?? ''}:${position ? 'p' : ''}`;
    if (points.length && key !== this.framed) {
      this.framed = key;
      this.map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 16 });
    }
  }
}

new CrewApp().start();
