/**
 * The caller's location page (/locate/<token>), public, for a phone: one button to share the
 * phone's position with the 115 desk. After the caller agrees, the browser's position (with its
 * accuracy) is sent a few times as it improves, then the page stops. A declined permission, an
 * expired or used link, each get a clear page in Vietnamese and English. Nothing else is shown.
 */

import { ApiError, requestJson } from './api.js';
import { byId, setText } from './dom.js';
import { addStrings, initLang, onLangChange, setLang, t } from './i18n.js';

addStrings({
  vi: {
    'locate.pageTitle': 'Chia sẻ vị trí với 115 Đà Nẵng',
    'locate.org': 'Cấp cứu 115 Đà Nẵng',
    'locate.loading': 'Đang tải…',
    'locate.ask': 'Chia sẻ vị trí để xe cứu thương tìm bạn',
    'locate.askText': 'Nhân viên 115 đã gửi cho bạn đường dẫn này. Bấm nút bên dưới và cho phép trình duyệt dùng vị trí của điện thoại. Vị trí chỉ được gửi cho trung tâm 115.',
    'locate.share': 'Chia sẻ vị trí của tôi',
    'locate.finding': 'Đang xác định vị trí…',
    'locate.findingText': 'Hãy giữ trang này mở trong giây lát.',
    'locate.sent': 'Đã gửi vị trí cho 115',
    'locate.sentText': 'Cảm ơn bạn. Nhân viên 115 đã nhận được vị trí. Hãy giữ điện thoại bên mình.',
    'locate.accuracy': 'Độ chính xác khoảng {m} m',
    'locate.refused': 'Bạn chưa cho phép chia sẻ vị trí',
    'locate.refusedText': 'Không sao: hãy nói rõ địa chỉ khi nhân viên 115 gọi lại, hoặc gọi 115 ngay.',
    'locate.unavailable': 'Không xác định được vị trí',
    'locate.unavailableText': 'Điện thoại không lấy được vị trí (hãy bật định vị). Hãy gọi 115 và nói rõ địa chỉ.',
    'locate.expired': 'Đường dẫn đã hết hạn',
    'locate.expiredText': 'Đường dẫn này đã được dùng hoặc đã quá 30 phút. Nếu cần giúp đỡ, hãy gọi 115.',
    'locate.invalid': 'Đường dẫn không hợp lệ',
    'locate.invalidText': 'Hãy kiểm tra lại tin nhắn, hoặc gọi 115.',
    'locate.offline': 'Mất kết nối — đang thử lại…',
    'locate.call': 'Gọi 115',
  },
  en: {
    'locate.pageTitle': 'Share your location with 115 Da Nang',
    'locate.org': 'Da Nang 115 Emergency',
    'locate.loading': 'Loading…',
    'locate.ask': 'Share your location so the ambulance can find you',
    'locate.askText': "The 115 desk sent you this link. Press the button below and let the browser use your phone's location. It goes only to the 115 centre.",
    'locate.share': 'Share my location',
    'locate.finding': 'Finding your location…',
    'locate.findingText': 'Please keep this page open for a moment.',
    'locate.sent': 'Location sent to 115',
    'locate.sentText': 'Thank you. The 115 desk has your location. Keep your phone with you.',
    'locate.accuracy': 'Accurate to about {m} m',
    'locate.refused': 'You did not allow sharing your location',
    'locate.refusedText': 'That is fine: tell the 115 desk your address when they call back, or call 115 now.',
    'locate.unavailable': 'Your location could not be found',
    'locate.unavailableText': "The phone could not get a position (turn location on). Call 115 and give your address.",
    'locate.expired': 'This link has expired',
    'locate.expiredText': 'This link was already used or is more than 30 minutes old. If you need help, call 115.',
    'locate.invalid': 'Invalid link',
    'locate.invalidText': 'Check the message again, or call 115.',
    'locate.offline': 'Connection lost — retrying…',
    'locate.call': 'Call 115',
  },
});

const SENDS = 4; // positions sent at most, as the fix improves
const SEND_EVERY_MS = 2500;

/** Test hook: what the page shows and sent. */
const ambLocate = { state: 'loading', sent: 0, accuracy_m: null };
window.ambLocate = ambLocate;

function tokenFromAddress() {
  const match = window.location.pathname.match(/\/locate\/([^/]+)\/?$/);
  return match ? decodeURIComponent(match[1]) : '';
}

class LocatePage {
  constructor(token) {
    this.token = token;
    this.path = `public/locate/${encodeURIComponent(token)}`;
    this.state = 'loading';
    this.watch = null;
    this.lastSent = 0;
    this.best = null;
  }

  async start() {
    initLang();
    for (const button of document.querySelectorAll('[data-lang-choice]')) {
      button.addEventListener('click', () => setLang(button.dataset.langChoice));
    }
    onLangChange(() => this.render());
    byId('locate-share').addEventListener('click', () => this.share());
    try {
      await requestJson('GET', this.path, { authErrors: [] });
      this.state = 'ask';
    } catch (error) {
      this.failed(error);
    }
    this.render();
  }

  failed(error) {
    const status = error instanceof ApiError ? error.status : 0;
    if (status === 410) this.state = 'expired';
    else if (status === 404) this.state = 'invalid';
    else if (this.state === 'loading') this.state = 'invalid';
  }

  share() {
    if (!navigator.geolocation) {
      this.state = 'unavailable';
      this.render();
      return;
    }
    this.state = 'finding';
    this.render();
    this.watch = navigator.geolocation.watchPosition(
      (position) => this.located(position),
      (error) => this.denied(error),
      { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 },
    );
  }

  async located(position) {
    const { latitude, longitude, accuracy } = position.coords;
    const better = !this.best || accuracy < this.best.accuracy;
    if (better) this.best = { latitude, longitude, accuracy };
    const due = Date.now() - this.lastSent >= SEND_EVERY_MS;
    if (!(ambLocate.sent === 0 || (better && due))) return;
    this.lastSent = Date.now();
    try {
      await requestJson('POST', this.path, {
        body: { lat: latitude, lon: longitude, accuracy_m: Math.round(accuracy * 10) / 10 },
        authErrors: [],
      });
      ambLocate.sent += 1;
      ambLocate.accuracy_m = accuracy;
      this.state = 'sent';
    } catch (error) {
      this.failed(error);
      if (this.state === 'expired' || this.state === 'invalid') this.stop();
    }
    if (ambLocate.sent >= SENDS) this.stop();
    this.render();
  }

  async denied(error) {
    this.stop();
    if (error.code === error.PERMISSION_DENIED) {
      this.state = 'refused';
      try {
        await requestJson('POST', `${this.path}/refuse`, { body: {}, authErrors: [] });
      } catch {
        // The desk learns it when it calls back.
      }
    } else if (ambLocate.sent === 0) {
      this.state = 'unavailable';
    }
    this.render();
  }

  stop() {
    if (this.watch !== null) navigator.geolocation.clearWatch(this.watch);
    this.watch = null;
  }

  render() {
    document.body.dataset.state = this.state;
    ambLocate.state = this.state;
    const texts = {
      loading: ['locate.loading', ''],
      ask: ['locate.ask', 'locate.askText'],
      finding: ['locate.finding', 'locate.findingText'],
      sent: ['locate.sent', 'locate.sentText'],
      refused: ['locate.refused', 'locate.refusedText'],
      unavailable: ['locate.unavailable', 'locate.unavailableText'],
      expired: ['locate.expired', 'locate.expiredText'],
      invalid: ['locate.invalid', 'locate.invalidText'],
    };
    const [title, text] = texts[this.state];
    setText(byId('locate-title'), t(title));
    setText(byId('locate-text'), text ? t(text) : '');
    byId('locate-share').hidden = this.state !== 'ask';
    const accuracy = this.state === 'sent' && ambLocate.accuracy_m !== null ? t('locate.accuracy', { m: Math.round(ambLocate.accuracy_m) }) : '';
    setText(byId('locate-accuracy'), accuracy);
  }
}

new LocatePage(tokenFromAddress()).start();
