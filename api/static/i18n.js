/** UI strings in Vietnamese and English, the chosen language, and its application to static markup. */

const STORAGE_KEY = 'amb.lang';
export const LANGS = ['vi', 'en'];
export const DEFAULT_LANG = 'vi';

const STRINGS = {
  vi: {
    'app.title': 'Giám sát hành trình xe cứu thương — Đà Nẵng',
    'app.subtitle': 'Trung tâm Cấp cứu 115 Đà Nẵng',
    'lang.group': 'Ngôn ngữ',
    'clock.label': 'Giờ Việt Nam (GMT+7)',
    'conn.connecting': 'Đang kết nối…',
    'conn.connected': 'Trực tuyến',
    'conn.reconnecting': 'Đang kết nối lại…',
    'conn.retryIn': '(thử lại sau {s} giây)',
    'conn.auth': 'Cần mã truy cập',
    'fleet.title': 'Đội xe',
    'fleet.count': '{n} xe',
    'fleet.fit': 'Xem toàn đội',
    'fleet.fitTitle': 'Thu phóng bản đồ để thấy tất cả các xe',
    'fleet.filter': 'Tìm hiệu xe hoặc biển số…',
    'fleet.empty': 'Chưa có xe nào.',
    'fleet.noMatch': 'Không có xe phù hợp.',
    'fleet.showOnMap': 'Xem {c} trên bản đồ',
    'fresh.fresh': 'Trực tuyến',
    'fresh.stale': 'Chậm cập nhật',
    'fresh.offline': 'Mất kết nối',
    'fresh.none': 'Chưa có vị trí',
    'age.s': '{n} giây trước',
    'age.m': '{n} phút trước',
    'age.h': '{n} giờ trước',
    'age.d': '{n} ngày trước',
    'age.never': 'chưa có tín hiệu',
    'legend.title': 'Chú giải',
    'legend.fresh': 'Trực tuyến (≤ {n} giây)',
    'legend.stale': 'Chậm cập nhật (> {n} giây)',
    'legend.offline': 'Mất kết nối (> {n} giây)',
    'legend.hospitalEd': 'Bệnh viện có cấp cứu',
    'legend.hospital': 'Cơ sở y tế khác',
    'hospital.ed': 'Có khoa cấp cứu',
    'hospital.noEd': 'Không có khoa cấp cứu',
    'road.oneway': 'Đường một chiều',
    'map.label': 'Bản đồ đội xe cứu thương',
    'detail.close': 'Đóng',
    'detail.status': 'Trạng thái',
    'detail.plate': 'Biển số',
    'detail.kind': 'Loại xe',
    'detail.device': 'Thiết bị',
    'detail.speed': 'Tốc độ',
    'detail.heading': 'Hướng',
    'detail.lastSeen': 'Cập nhật',
    'detail.fixTime': 'Thời điểm định vị',
    'detail.receivedAt': 'Máy chủ nhận lúc',
    'detail.accuracy': 'Sai số',
    'detail.satellites': 'Số vệ tinh',
    'detail.coords': 'Tọa độ',
    'kind.ambulance': 'Xe cứu thương',
    'compass': 'Bắc,Đông Bắc,Đông,Đông Nam,Nam,Tây Nam,Tây,Tây Bắc',
    'error.load': 'Không tải được dữ liệu từ máy chủ — đang thử lại…',
    'access.title': 'Cần mã truy cập',
    'access.body':
      'Màn hình giám sát cần mã truy cập hợp lệ. Hãy mở đường dẫn có mã do quản trị viên cấp (…/#token=…) hoặc nhập mã bên dưới.',
    'access.denied': 'Mã truy cập không hợp lệ hoặc đã hết hạn.',
    'access.label': 'Mã truy cập',
    'access.submit': 'Mở bản đồ',
  },
  en: {
    'app.title': 'Ambulance Journey Monitor — Da Nang',
    'app.subtitle': 'Da Nang 115 Emergency Centre',
    'lang.group': 'Language',
    'clock.label': 'Vietnam time (GMT+7)',
    'conn.connecting': 'Connecting…',
    'conn.connected': 'Live',
    'conn.reconnecting': 'Reconnecting…',
    'conn.retryIn': '(retry in {s} s)',
    'conn.auth': 'Access token required',
    'fleet.title': 'Fleet',
    'fleet.count': '{n} vehicles',
    'fleet.fit': 'Show all',
    'fleet.fitTitle': 'Zoom the map to show every vehicle',
    'fleet.filter': 'Search call sign or plate…',
    'fleet.empty': 'No vehicles yet.',
    'fleet.noMatch': 'No matching vehicles.',
    'fleet.showOnMap': 'Show {c} on the map',
    'fresh.fresh': 'Live',
    'fresh.stale': 'Stale',
    'fresh.offline': 'Disconnected',
    'fresh.none': 'No position',
    'age.s': '{n} s ago',
    'age.m': '{n} min ago',
    'age.h': '{n} h ago',
    'age.d': '{n} d ago',
    'age.never': 'never seen',
    'legend.title': 'Legend',
    'legend.fresh': 'Live (≤ {n} s)',
    'legend.stale': 'Stale (> {n} s)',
    'legend.offline': 'Disconnected (> {n} s)',
    'legend.hospitalEd': 'Hospital with emergency dept.',
    'legend.hospital': 'Other health facility',
    'hospital.ed': 'Emergency department',
    'hospital.noEd': 'No emergency department',
    'road.oneway': 'One-way road',
    'map.label': 'Ambulance fleet map',
    'detail.close': 'Close',
    'detail.status': 'Status',
    'detail.plate': 'Plate',
    'detail.kind': 'Type',
    'detail.device': 'Device',
    'detail.speed': 'Speed',
    'detail.heading': 'Heading',
    'detail.lastSeen': 'Last seen',
    'detail.fixTime': 'Fix time',
    'detail.receivedAt': 'Received at',
    'detail.accuracy': 'Accuracy',
    'detail.satellites': 'Satellites',
    'detail.coords': 'Coordinates',
    'kind.ambulance': 'Ambulance',
    'compass': 'N,NE,E,SE,S,SW,W,NW',
    'error.load': 'Could not load data from the server — retrying…',
    'access.title': 'Access token required',
    'access.body':
      'This monitor needs a valid access token. Open the link with the token from your administrator (…/#token=…) or enter it below.',
    'access.denied': 'The access token is invalid or has expired.',
    'access.label': 'Access token',
    'access.submit': 'Open map',
  },
};

let current = DEFAULT_LANG;
const listeners = new Set();

/** The current language code ('vi' or 'en'). */
export function lang() {
  return current;
}

/** Translates `key` in the current language, filling `{name}` placeholders from `params`. */
export function t(key, params = {}) {
  return tIn(current, key, params);
}

/** Translates `key` in a given language (the access screen shows both at once). */
export function tIn(language, key, params = {}) {
  const template = STRINGS[language]?.[key] ?? STRINGS[DEFAULT_LANG][key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** Registers a callback run after every language change. */
export function onLangChange(callback) {
  listeners.add(callback);
}

/** Reads the remembered language (Vietnamese by default) and applies it. */
export function initLang() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage may be disabled (kiosk profiles); the default language is fine.
  }
  setLang(LANGS.includes(saved) ? saved : DEFAULT_LANG, { remember: false });
}

/** Switches the language, remembers it, relabels static markup and notifies listeners. */
export function setLang(language, { remember = true } = {}) {
  if (!LANGS.includes(language)) return;
  current = language;
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, language);
    } catch {
      // Not remembered across reloads, still applied now.
    }
  }
  document.documentElement.lang = language;
  applyStatic(document);
  for (const callback of listeners) callback(language);
}

/** Fills elements marked with data-i18n (text) and data-i18n-<attr> (attributes). */
export function applyStatic(root) {
  document.title = t('app.title');
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const attr of ['title', 'placeholder', 'aria-label']) {
    const dataKey = `i18n${attr.replace(/(^|-)(\w)/g, (m, dash, ch) => ch.toUpperCase())}`;
    for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      node.setAttribute(attr, t(node.dataset[dataKey]));
    }
  }
}
