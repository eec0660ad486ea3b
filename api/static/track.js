/**
 * The caller's page (/track/<token>), public and made for a phone: the ambulance coming, its ETA
 * counting down and its distance, on a small map with the scene. Polls
 * GET /api/v1/public/track/{token} every 5 s; says so when the ambulance arrived or the link ended.
 */

import { ApiError, requestJson } from './api.js';
import { byId, h, setText } from './dom.js';
import { formatAge, formatDistance, formatShortTime } from './format.js';
import { addStrings, initLang, lang, onLangChange, setLang, t } from './i18n.js';
import { OSM_ATTRIBUTION } from './map.js';

addStrings({
  vi: {
    'track.pageTitle': 'Xe cứu thương đang đến — 115 Đà Nẵng',
    'track.org': 'Cấp cứu 115 Đà Nẵng',
    'track.loading': 'Đang tải…',
    'track.coming': 'Xe cứu thương đang đến',
    'track.comingSub': 'Xe {c} đang trên đường đến chỗ bạn.',
    'track.dispatchedSub': 'Xe {c} đã được điều động và sắp xuất phát.',
    'track.arrived': 'Xe đã đến nơi',
    'track.arrivedSub': 'Nhân viên cấp cứu đã đến hiện trường. Hãy làm theo hướng dẫn của họ.',
    'track.expired': 'Link theo dõi đã hết hạn',
    'track.expiredSub': 'Hành trình đã kết thúc hoặc đã có link mới. Nếu cần giúp đỡ, hãy gọi 115.',
    'track.invalid': 'Link không hợp lệ',
    'track.invalidSub': 'Không tìm thấy hành trình này. Hãy kiểm tra lại tin nhắn hoặc gọi 115.',
    'track.offline': 'Mất kết nối — đang thử lại…',
    'track.busy': 'Máy chủ đang bận — thử lại sau {s} giây…',
    'track.etaLabel': 'Dự kiến đến sau',
    'track.distanceLabel': 'Còn cách',
    'track.minutes': '{n} phút',
    'track.soon': 'Sắp đến',
    'track.at': 'khoảng {t}',
    'track.window': 'khoảng {t} (trong khoảng {a}–{b})',
    'track.unit': 'Xe {c}',
    'track.unknown': 'Đang tính…',
    'track.updated': 'Cập nhật vị trí xe: {a}',
    'track.you': 'Hiện trường (vị trí của bạn)',
    'track.ambulance': 'Xe cứu thương {c}',
    'track.mapLabel': 'Bản đồ: xe cứu thương và vị trí của bạn',
    'track.adviceTitle': 'Trong lúc chờ xe',
    'track.advice1': 'Giữ điện thoại bên mình và để chuông lớn: nhân viên 115 có thể gọi lại.',
    'track.advice2': 'Nếu có thể, nhờ người ra đầu đường hoặc cổng để đón xe.',
    'track.advice3': 'Nếu tình trạng người bệnh xấu đi, gọi lại ngay 115.',
    'track.call': 'Gọi 115',
  },
  en: {
    'track.pageTitle': 'Your ambulance is on its way — 115 Da Nang',
    'track.org': 'Da Nang 115 Emergency',
    'track.loading': 'Loading…',
    'track.coming': 'Your ambulance is on its way',
    'track.comingSub': 'Ambulance {c} is heading to you.',
    'track.dispatchedSub': 'Ambulance {c} has been dispatched and is about to leave.',
    'track.arrived': 'The ambulance has arrived',
    'track.arrivedSub': 'The emergency crew is at the scene. Please follow their instructions.',
    'track.expired': 'This tracking link has expired',
    'track.expiredSub': 'The journey is over or a new link was sent. If you need help, call 115.',
    'track.invalid': 'Invalid link',
    'track.invalidSub': 'This journey was not found. Check the message again or call 115.',
    'track.offline': 'Connection lost — retrying…',
    'track.busy': 'The server is busy — retrying in {s} s…',
    'track.etaLabel': 'Arrives in about',
    'track.distanceLabel': 'Distance',
    'track.minutes': '{n} min',
    'track.soon': 'Any moment',
    'track.at': 'around {t}',
    'track.window': 'around {t} (between {a} and {b})',
    'track.unit': 'Unit {c}',
    'track.unknown': 'Calculating…',
    'track.updated': 'Ambulance position updated {a}',
    'track.you': 'Incident (your location)',
    'track.ambulance': 'Ambulance {c}',
    'track.mapLabel': 'Map: the ambulance and your location',
    'track.adviceTitle': 'While you wait',
    'track.advice1': 'Keep your phone with you, ringer on: the 115 team may call you back.',
    'track.advice2': 'If you can, ask someone to wait at the street or gate to guide the crew.',
    'track.advice3': 'If the patient gets worse, call 115 again right away.',
    'track.call': 'Call 115',
  },
});

const L = window.L;
const POLL_MS = 5000;
const RETRY_MAX_MS = 30000;

// Constant markup (no data): an ambulance disc with a heading arrow, and the scene pin.
const AMBULANCE_HTML =
  '<svg class="amb-glyph" viewBox="-22 -22 44 44" aria-hidden="true">' +
  '<path class="amb-arrow" d="M0,-21 L6,-13 L-6,-13 Z"></path>' +
  '<circle class="amb-disc" r="12"></circle>' +
  '<path class="amb-cross" d="M-2.5,-7 h5 v4.5 h4.5 v5 h-4.5 v4.5 h-5 v-4.5 h-4.5 v-5 h4.5 Z"></path>' +
  '</svg>';
const SCENE_HTML = '<svg class="scene-glyph" viewBox="0 0 30 40" aria-hidden="true"><path class="scene-pin" d="M15,39 C15,39 2,23 2,14 A13,13 0 1 1 28,14 C28,23 15,39 15,39 Z"></path><circle class="scene-dot" cx="15" cy="14" r="5"></circle></svg>';

/** Test hook: what the page shows. */
const ambState = { state: 'loading', polls: 0, eta_s: null, distance_m: null, call_sign: null, lang: 'vi' };
window.ambState = ambState;

/** The token: the last segment of /track/<token>, or ?t= when the file is opened directly. */
function tokenFromAddress() {
  const match = window.location.pathname.match(/\/track\/([^/]+)\/?$/);
  if (match) return decodeURIComponent(match[1]);
  return new URLSearchParams(window.location.search).get('t') ?? '';
}

/** "around 10:05 (between 10:03 and 10:08)": the arrival and its p10-p90 window when there is one. */
function arrivalText(data) {
  if (!data.arrival_at) return '';
  const w = data.arrival_window;
  if (w?.early_at && w?.late_at) {
    return t('track.window', { t: formatShortTime(data.arrival_at), a: formatShortTime(w.early_at), b: formatShortTime(w.late_at) });
  }
  return t('track.at', { t: formatShortTime(data.arrival_at) });
}

class CallerPage {
  constructor(token) {
    this.token = token;
    this.data = null;
    this.receivedAt = 0;
    this.state = 'loading';
    this.problem = null; // { key, values } shown under the ETA while polling fails
    this.failures = 0;
    this.timer = 0;
    this.map = null;
  }

  async poll() {
    clearTimeout(this.timer);
    let next = POLL_MS;
    try {
      const data = await requestJson('GET', `public/track/${encodeURIComponent(this.token)}`, { authErrors: [] });
      this.failures = 0;
      this.problem = null;
      this.data = data;
      this.receivedAt = Date.now();
      this.state = data?.status === 'arrived' ? 'arrived' : 'approaching';
    } catch (error) {
      const status = error instanceof ApiError ? error.status : 0;
      if (status === 410) this.state = 'expired';
      else if (status === 404) this.state = 'invalid';
      else {
        this.failures += 1;
        next = Math.min(RETRY_MAX_MS, POLL_MS * 2 ** (this.failures - 1));
        if (status === 429) {
          next = Math.max(next, (error.retryAfter || 10) * 1000);
          this.problem = { key: 'track.busy', values: { s: Math.round(next / 1000) } };
        } else {
          this.problem = { key: 'track.offline', values: {} };
        }
        if (this.state === 'loading') this.state = 'error';
      }
    }
    ambState.polls += 1;
    this.render();
    // Arrived, expired and invalid are final: nothing more to poll.
    if (['approaching', 'loading', 'error'].includes(this.state)) this.timer = setTimeout(() => this.poll(), next);
  }

  /** Seconds to arrival now: the last answer's eta_s minus the time since it came. */
  secondsLeft() {
    const eta = this.data?.eta_s;
    if (typeof eta !== 'number' || !Number.isFinite(eta)) return null;
    return Math.max(0, eta - (Date.now() - this.receivedAt) / 1000);
  }

  render() {
    document.body.dataset.state = this.state;
    ambState.state = this.state;
    const data = this.state === 'approaching' ? this.data : null;
    const callSign = data?.call_sign ?? '';
    ambState.call_sign = callSign || null;
    const titles = {
      loading: ['track.loading', ''],
      error: ['track.loading', ''],
      approaching: ['track.coming', data?.status === 'dispatched' ? 'track.dispatchedSub' : 'track.comingSub'],
      arrived: ['track.arrived', 'track.arrivedSub'],
      expired: ['track.expired', 'track.expiredSub'],
      invalid: ['track.invalid', 'track.invalidSub'],
    };
    const [title, subtitle] = titles[this.state];
    setText(byId('track-title'), t(title));
    setText(byId('track-subtitle'), subtitle ? t(subtitle, { c: callSign }) : '');
    byId('track-eta').hidden = !data;
    byId('track-map').hidden = !data;
    byId('track-advice').hidden = this.state !== 'approaching';
    if (data) {
      this.renderEta(data);
      this.renderMap(data);
    }
    this.renderUpdated(data);
  }

  /** Once a second: the countdown and the age of the position. */
  tick() {
    if (this.state !== 'approaching' || !this.data) return;
    this.renderEta(this.data);
    this.renderUpdated(this.data);
  }

  renderEta(data) {
    const left = this.secondsLeft();
    ambState.eta_s = left === null ? null : Math.round(left);
    ambState.distance_m = data.distance_m ?? null;
    let minutes = t('track.unknown');
    if (left !== null) minutes = left < 60 ? t('track.soon') : t('track.minutes', { n: Math.ceil(left / 60) });
    setText(byId('eta-minutes'), minutes);
    byId('eta-minutes').dataset.seconds = left === null ? '' : String(Math.round(left));
    setText(byId('eta-clock'), arrivalText(data));
    setText(byId('eta-distance'), formatDistance(data.distance_m));
    setText(byId('eta-callsign'), data.call_sign ? t('track.unit', { c: data.call_sign }) : '');
  }

  renderUpdated(data) {
    const node = byId('track-updated');
    if (this.problem) {
      setText(node, t(this.problem.key, this.problem.values));
      node.dataset.tone = 'problem';
      return;
    }
    node.dataset.tone = '';
    const age = data?.vehicle?.age_s;
    setText(node, data && Number.isFinite(age) ? t('track.updated', { a: formatAge(age + (Date.now() - this.receivedAt) / 1000) }) : '');
  }

  renderMap(data) {
    const vehicle = data.vehicle && Number.isFinite(data.vehicle.lat) ? L.latLng(data.vehicle.lat, data.vehicle.lon) : null;
    const scene = data.scene && Number.isFinite(data.scene.lat) ? L.latLng(data.scene.lat, data.scene.lon) : null;
    if (!this.map) this.createMap(scene ?? vehicle);
    if (!this.map) return;
    if (scene) this.sceneMarker.setLatLng(scene).addTo(this.map);
    if (vehicle) {
      this.vehicleMarker.setLatLng(vehicle).addTo(this.map);
      const arrow = this.vehicleMarker.getElement()?.querySelector('.amb-arrow');
      if (arrow) arrow.style.display = Number.isFinite(data.vehicle.heading) ? '' : 'none';
      const glyph = this.vehicleMarker.getElement()?.querySelector('.amb-glyph');
      if (glyph && Number.isFinite(data.vehicle.heading)) glyph.style.transform = `rotate(${data.vehicle.heading}deg)`;
    }
    const route = data.route?.coordinates;
    const guide = Array.isArray(route) && route.length > 1 ? route.map(([lon, lat]) => [lat, lon]) : vehicle && scene ? [vehicle, scene] : [];
    this.guide.setLatLngs(guide);
    this.guide.getElement()?.setAttribute('data-kind', Array.isArray(route) ? 'route' : 'straight');
    const points = [vehicle, scene].filter(Boolean);
    const view = this.map.getBounds();
    if (!this.fitted || points.some((p) => !view.contains(p))) {
      if (points.length === 2) this.map.fitBounds(L.latLngBounds(points), { paddingTopLeft: [40, 70], paddingBottomRight: [110, 40], maxZoom: 17 });
      else if (points.length === 1) this.map.setView(points[0], 16);
      this.fitted = true;
    }
    this.relabelMarkers();
  }

  createMap(center) {
    if (!center) return;
    this.map = L.map('track-map', { center, zoom: 15, zoomControl: true, attributionControl: true, scrollWheelZoom: false });
    this.map.attributionControl.setPrefix(false);
    this.map.attributionControl.addAttribution(OSM_ATTRIBUTION);
    L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(this.map);
    this.guide = L.polyline([], { className: 'track-guide', interactive: false }).addTo(this.map);
    const scene = L.divIcon({ className: 'scene-icon', html: SCENE_HTML, iconSize: [30, 40], iconAnchor: [15, 39] });
    this.sceneMarker = L.marker(center, { icon: scene, keyboard: false, title: t('track.you') });
    this.sceneMarker.bindTooltip('', { direction: 'top', offset: [0, -38], className: 'track-tip', permanent: true });
    const ambulance = L.divIcon({ className: 'amb-icon', html: AMBULANCE_HTML, iconSize: [44, 44], iconAnchor: [22, 22] });
    this.vehicleMarker = L.marker(center, { icon: ambulance, keyboard: false, zIndexOffset: 1000 });
    this.vehicleMarker.bindTooltip('', { direction: 'right', offset: [16, 0], className: 'track-tip track-tip-amb', permanent: true });
  }

  relabelMarkers() {
    if (!this.map) return;
    this.sceneMarker.setTooltipContent(h('span', { text: t('track.you') }));
    this.vehicleMarker.setTooltipContent(h('span', { text: t('track.ambulance', { c: this.data?.call_sign ?? '' }) }));
  }
}

function bindToggle() {
  const buttons = document.querySelectorAll('[data-lang-choice]');
  const mark = () => {
    for (const button of buttons) button.setAttribute('aria-pressed', String(button.dataset.langChoice === lang()));
  };
  for (const button of buttons) button.addEventListener('click', () => setLang(button.dataset.langChoice));
  mark();
  return mark;
}

function main() {
  initLang();
  ambState.lang = lang();
  const mark = bindToggle();
  const page = new CallerPage(tokenFromAddress());
  onLangChange(() => {
    ambState.lang = lang();
    mark();
    page.render();
  });
  if (!page.token) {
    page.state = 'invalid';
    page.render();
    return;
  }
  page.render();
  page.poll();
  setInterval(() => page.tick(), 1000);
}

main();
