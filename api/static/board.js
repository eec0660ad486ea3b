/**
 * The hospital board (/board): the ambulances coming to one hospital, for a wall screen in its
 * emergency department. A hospital account sees its own hospital; admins, dispatchers and viewers
 * choose one with `?hospital=<id>`. Live from the websocket, with the REST list as the record.
 */

import { showAccessRequired } from './access.js';
import { AuthError } from './api.js';
import { freshnessOf } from './fleet.js';
import { InboundList } from './board_list.js';
import { InboundStore } from './board_store.js';
import { DEFAULT_CONFIG, normaliseConfig } from './config.js';
import { byId, h, setText } from './dom.js';
import { renderConnection } from './header.js';
import { addStrings, lang, onLangChange, t } from './i18n.js';
import { Loader } from './loader.js';
import { HospitalLayer, addRoads, createMap } from './map.js';
import { openSessionWithRetry, startHeader } from './page_start.js';
import { noteServerTime } from './server_clock.js';
import { goToLogin } from './session.js';
import { FleetStream } from './stream.js';
import { ThrottledTask } from './throttle.js';
import { UserMenu } from './user_menu.js';
import { VehicleLayer } from './vehicles.js';

addStrings({
  vi: {
    'board.pageTitle': 'Xe cấp cứu đang đến — Bảng bệnh viện',
    'board.title': 'Xe cấp cứu đang đến',
    'board.map': 'Bản đồ xe cấp cứu đang đến',
    'board.colUnit': 'Xe',
    'board.colStatus': 'Trạng thái',
    'board.colEta': 'Dự kiến đến',
    'board.colDistance': 'Còn',
    'board.colSeen': 'Tín hiệu',
    'board.empty': 'Hiện không có xe cấp cứu nào đang đến.',
    'board.arrived': 'Đã đến',
    'board.arrivalAt': 'lúc {t}',
    'board.arrivalWindow': 'lúc {t} (trong khoảng {a}–{b})',
    'board.toScene': 'đến hiện trường sau {t}',
    'board.notYet': 'chưa đón bệnh nhân',
    'board.count': '{n} xe đang đến',
    'board.urgent': '{n} ca khẩn cấp nhất (P1)',
    'board.next': 'xe gần nhất: {t}',
    'board.arrivedCount': '{n} xe đã đến',
    'board.pick': 'Chọn bệnh viện để xem bảng',
    'board.pickHint': 'Tài khoản này không gắn với một bệnh viện: chọn bệnh viện cần theo dõi.',
    'board.noHospital': 'Không tìm thấy bệnh viện #{id}.',
    'board.docTitle': '{h} — Xe cấp cứu đang đến',
  },
  en: {
    'board.pageTitle': 'Inbound ambulances — Hospital board',
    'board.title': 'Inbound ambulances',
    'board.map': 'Map of the inbound ambulances',
    'board.colUnit': 'Unit',
    'board.colStatus': 'Status',
    'board.colEta': 'Arrives in',
    'board.colDistance': 'Distance',
    'board.colSeen': 'Signal',
    'board.empty': 'No ambulance is on its way right now.',
    'board.arrived': 'Arrived',
    'board.arrivalAt': 'at {t}',
    'board.arrivalWindow': 'at {t} (between {a} and {b})',
    'board.toScene': 'reaches the scene in {t}',
    'board.notYet': 'patient not picked up yet',
    'board.count': '{n} on the way',
    'board.urgent': '{n} most urgent (P1)',
    'board.next': 'next: {t}',
    'board.arrivedCount': '{n} arrived',
    'board.pick': 'Choose a hospital',
    'board.pickHint': 'This account is not tied to a hospital: choose the hospital to follow.',
    'board.noHospital': 'No hospital #{id}.',
    'board.docTitle': '{h} — Inbound ambulances',
  },
});

const REFETCH_MIN_MS = 1500;
const PERIODIC_REFETCH_MS = 30 * 1000;
const CHANGES = new Set(['status_change', 'destination_changed']);

/** Test hook: the board's hospital, inbound rows (with live seconds left), stream state. */
const ambState = {
  user: null,
  mode: '',
  hospitalId: null,
  hospitalName: '',
  inbound: [],
  connected: false,
  connection: 'connecting',
  etasReceived: 0,
  refetches: 0,
  lang: 'vi',
};
window.ambState = ambState;

function hospitalName(hospital) {
  if (!hospital) return '';
  return lang() === 'en' ? hospital.name_en || hospital.name_vi : hospital.name_vi || hospital.name_en;
}

class HospitalBoard {
  constructor(session, hospitalId) {
    this.session = session;
    this.client = session.client;
    this.hospitalId = hospitalId;
    this.hospital = null;
    this.store = new InboundStore();
    this.config = DEFAULT_CONFIG;
    this.connection = { state: 'connecting', retryAt: 0 };
    this.stopped = false;
    this.loader = new Loader({ stopped: () => this.stopped });
    this.refetch = new ThrottledTask(() => this.reload(), REFETCH_MIN_MS);
    this.fittedKey = '';
    this.list = null;
    this.vehicles = null;
  }

  async start() {
    this.config = normaliseConfig(await this.loader.withRetry('config', () => this.client.config()));
    this.list = new InboundList({ offlineAfterS: this.config.offline_after_s });
    this.map = createMap(byId('board-map'), { ...this.config, map_zoom: Math.max(12, this.config.map_zoom - 1) });
    this.vehicles = new VehicleLayer(this.map, { onSelect: () => {} });
    const hospitals = await this.loader.withRetry('hospitals', () => this.client.hospitals());
    this.hospital = hospitals.find((x) => x.id === this.hospitalId) ?? null;
    if (this.hospital) new HospitalLayer(this.map, [this.hospital]);
    this.relabel();
    this.stream = new FleetStream({
      url: () => this.client.streamUrl(),
      onMessage: (message) => this.receive(message),
      onStatus: (status) => this.setConnection(status),
      checkAuth: () => this.client.credentialsAccepted(),
    });
    this.stream.start();
    setInterval(() => this.refetch.request(), PERIODIC_REFETCH_MS);
    await Promise.all([this.loader.withRetry('inbound', () => this.load()), this.loadRoads()]);
    document.body.dataset.ready = '1';
  }

  async loadRoads() {
    const roads = await this.loader.withRetry('roads', () => this.client.roads());
    addRoads(this.map, roads, { withTiles: Boolean(this.config.tile_url) });
  }

  async load() {
    const answer = await this.client.inbound(this.hospitalId);
    this.store.replaceAll(answer.inbound ?? []);
    ambState.refetches += 1;
    this.render();
  }

  async reload() {
    try {
      await this.load();
    } catch (error) {
      if (error instanceof AuthError) this.deny();
      else console.warn('inbound refetch failed', error);
    }
  }

  receive(message) {
    if (message.type === 'snapshot') {
      // A hospital's snapshot is its inbound list; a fleet account's is the fleet (the list comes by REST).
      if (Array.isArray(message.inbound)) {
        this.store.replaceAll(message.inbound);
        this.render();
      } else {
        this.refetch.request();
      }
    } else if (message.type === 'etas') {
      let unknown = false;
      for (const eta of message.etas ?? []) {
        if (eta.hospital_id !== this.hospitalId) continue;
        ambState.etasReceived += 1;
        if (!this.store.applyEta(eta)) unknown = true;
      }
      if (unknown) this.refetch.request();
      this.render();
    } else if (message.type === 'fixes') {
      let moved = false;
      for (const fix of message.fixes ?? []) moved = this.store.applyFix(fix) || moved;
      if (moved) this.render();
    } else if (message.type === 'events') {
      if ((message.events ?? []).some((event) => this.concerns(event))) this.refetch.request();
    } else if (message.type === 'heartbeat' || message.type === 'pong') {
      noteServerTime(message.time);
    }
  }

  /** A status or destination change of a journey to (or leaving) this hospital. */
  concerns(event) {
    if (!CHANGES.has(event.kind)) return false;
    const d = event.details ?? {};
    return event.hospital_id === this.hospitalId || this.store.has(event.journey_id) || d.to_hospital_id === this.hospitalId || d.from_hospital_id === this.hospitalId;
  }

  /** Rows, map markers and the test hook; also once a second for the countdowns. */
  render() {
    if (!this.list) return;
    const records = this.store.sorted();
    this.list.render(records, (record) => this.store.age(record));
    ambState.inbound = this.store.toArray();
    this.drawVehicles(records);
  }

  drawVehicles(records) {
    const ids = new Set();
    for (const record of records) {
      if (!record.position || !Number.isFinite(record.position.lat)) continue;
      ids.add(record.vehicle_id);
      const age = this.store.age(record);
      const freshness = freshnessOf(age, record.heard_age_s, this.config.offline_after_s);
      this.vehicles.sync({ id: record.vehicle_id, call_sign: record.call_sign, plate: record.plate, status: record.status, position: record.position }, freshness, { animate: true });
    }
    this.vehicles.retainOnly(ids);
    this.fit(records);
  }

  /** Fits the map to the hospital and its ambulances when the set of ambulances changes. */
  fit(records) {
    const key = records.map((r) => r.journey_id).join(',');
    if (key === this.fittedKey) return;
    this.fittedKey = key;
    const L = window.L;
    const points = records.filter((r) => r.position && Number.isFinite(r.position.lat)).map((r) => L.latLng(r.position.lat, r.position.lon));
    if (this.hospital) points.push(L.latLng(this.hospital.lat, this.hospital.lon));
    if (points.length === 1) this.map.setView(points[0], 15);
    else if (points.length > 1) this.map.fitBounds(L.latLngBounds(points), { paddingTopLeft: [50, 50], paddingBottomRight: [170, 50], maxZoom: 15 });
  }

  setConnection(status) {
    this.connection = status;
    ambState.connected = status.state === 'connected';
    ambState.connection = status.state;
    renderConnection(status);
    if (status.state === 'auth') this.deny();
  }

  tick() {
    if (this.stopped) return;
    renderConnection(this.connection);
    this.render();
  }

  relabel() {
    const name = hospitalName(this.hospital) || t('board.noHospital', { id: this.hospitalId });
    setText(byId('hospital-name'), name);
    ambState.hospitalName = hospitalName(this.hospital);
    document.title = t('board.docTitle', { h: name });
    renderConnection(this.connection);
    this.vehicles?.relabel();
    this.render();
  }

  deny() {
    if (this.stopped) return;
    this.stopped = true;
    this.stream?.stop();
    this.refetch.cancel();
    renderConnection({ state: 'auth', retryAt: 0 });
    if (this.session.mode === 'session') goToLogin({ expired: true });
    else showAccessRequired('denied');
  }
}

/** Fleet accounts without `?hospital=`: a list of emergency hospitals to choose from. */
async function showPicker(client) {
  const picker = byId('hospital-picker');
  byId('inbound-table').hidden = true;
  document.body.dataset.picking = '1';
  const hospitals = (await client.hospitals()).filter((x) => x.has_emergency);
  const render = () => {
    setText(byId('hospital-name'), t('board.pick'));
    picker.replaceChildren(
      h('p', { text: t('board.pickHint') }),
      h(
        'ul',
        { class: 'picker-list' },
        hospitals.map((hospital) => {
          const url = new URL(window.location.href);
          url.searchParams.set('hospital', String(hospital.id));
          return h('li', {}, h('a', { class: 'btn', href: url.toString(), dataset: { hospitalId: String(hospital.id) }, text: hospitalName(hospital) }));
        }),
      ),
    );
  };
  render();
  picker.hidden = false;
  document.body.dataset.ready = '1';
  onLangChange(render);
}

async function main() {
  const { markToggle, clockTick } = startHeader();
  ambState.lang = lang();
  const session = await openSessionWithRetry();
  ambState.mode = session.mode;
  if (session.mode === 'login') return;
  if (session.mode === 'none') {
    renderConnection({ state: 'auth', retryAt: 0 });
    showAccessRequired('missing');
    return;
  }
  ambState.user = session.user;
  const userMenu = new UserMenu(session);
  const asked = Number.parseInt(new URLSearchParams(window.location.search).get('hospital') ?? '', 10);
  const hospitalId = session.user?.role === 'hospital' ? session.user.hospital_id : Number.isFinite(asked) ? asked : null;
  onLangChange(() => {
    ambState.lang = lang();
    markToggle();
    clockTick();
    userMenu.relabel();
  });
  if (hospitalId == null) {
    renderConnection({ state: 'connected', retryAt: 0 });
    byId('conn-status').hidden = true;
    await showPicker(session.client);
    return;
  }
  ambState.hospitalId = hospitalId;
  const board = new HospitalBoard(session, hospitalId);
  onLangChange(() => board.relabel());
  setInterval(() => board.tick(), 1000);
  board.start().catch((error) => {
    if (error instanceof AuthError) board.deny();
    else console.error('board failed to start', error);
  });
}

main();
