/** The login page: username and password (or an access key), then on to the page for the user's role. */

import { ApiError, AuthError, createApiClient, login } from './api.js';
import { storeToken } from './auth.js';
import { byId, setText } from './dom.js';
import { bindLanguageToggle } from './header.js';
import { addStrings, initLang, onLangChange, t } from './i18n.js';
import { PAGES, describeCaller } from './session.js';

addStrings({
  vi: {
    'login.pageTitle': 'Đăng nhập — Giám sát hành trình xe cứu thương',
    'login.title': 'Đăng nhập',
    'login.username': 'Tên đăng nhập',
    'login.password': 'Mật khẩu',
    'login.show': 'Hiện',
    'login.hide': 'Ẩn',
    'login.submit': 'Đăng nhập',
    'login.busy': 'Đang đăng nhập…',
    'login.missing': 'Hãy nhập tên đăng nhập và mật khẩu.',
    'login.bad': 'Sai tên đăng nhập hoặc mật khẩu.',
    'login.tooMany': 'Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {s}\u00a0giây.',
    'login.tooManyNow': 'Bạn có thể thử đăng nhập lại.',
    'login.network': 'Không kết nối được máy chủ. Vui lòng thử lại.',
    'login.server': 'Máy chủ gặp lỗi ({n}). Vui lòng thử lại sau.',
    'login.unsupported': 'Máy chủ này chưa có tài khoản người dùng: hãy dùng mã truy cập bên dưới.',
    'login.expired': 'Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.',
    'login.keyTitle': 'Đăng nhập bằng mã truy cập (API key)',
    'login.keyHint': 'Dành cho màn hình treo tường và hệ thống tích hợp: mã do quản trị viên cấp.',
    'login.keySubmit': 'Mở',
    'login.keyBad': 'Mã truy cập không hợp lệ hoặc đã hết hạn.',
    'login.foot': 'Chỉ dành cho nhân viên được cấp quyền. Mọi thao tác đều được ghi lại.',
  },
  en: {
    'login.pageTitle': 'Sign in — Ambulance Journey Monitor',
    'login.title': 'Sign in',
    'login.username': 'Username',
    'login.password': 'Password',
    'login.show': 'Show',
    'login.hide': 'Hide',
    'login.submit': 'Sign in',
    'login.busy': 'Signing in…',
    'login.missing': 'Enter your username and password.',
    'login.bad': 'Wrong username or password.',
    'login.tooMany': 'Too many failed attempts. Try again in {s}\u00a0s.',
    'login.tooManyNow': 'You can try to sign in again.',
    'login.network': 'Cannot reach the server. Please try again.',
    'login.server': 'Server error ({n}). Please try again later.',
    'login.unsupported': 'This server has no user accounts yet: use an access key below.',
    'login.expired': 'Your session has expired. Please sign in again.',
    'login.keyTitle': 'Sign in with an access key (API key)',
    'login.keyHint': 'For wall screens and integrations: a key issued by your administrator.',
    'login.keySubmit': 'Open',
    'login.keyBad': 'The access key is invalid or has expired.',
    'login.foot': 'Authorised staff only. Every action is logged.',
  },
});

const params = new URLSearchParams(window.location.search);

/** `?next=` when it is a path on this site other than the login page itself, else null. */
function safeNext() {
  const raw = params.get('next') ?? '';
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\')) return null;
  const url = new URL(raw, window.location.origin);
  if (url.origin !== window.location.origin || url.pathname === PAGES.login().pathname) return null;
  return url;
}

/** Where a user goes after signing in: hospital accounts to their board, everyone else to the map (or `next`). */
export function destinationFor(user) {
  const next = safeNext();
  if (user?.role === 'hospital') return next && next.pathname === PAGES.board().pathname ? next : PAGES.board();
  if (user?.role === 'crew') return PAGES.crew(); // a crew's tablet has one page
  return next ?? PAGES.dispatcher();
}

class LoginPage {
  constructor() {
    this.form = byId('login-form');
    this.username = byId('login-username');
    this.password = byId('login-password');
    this.submit = byId('login-submit');
    this.error = byId('login-error');
    this.notice = byId('login-notice');
    this.toggle = byId('password-toggle');
    this.message = null; // { key, params } of the error shown, re-translated on a language change
    this.waitUntil = 0;
    this.timer = 0;
    this.busy = false;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.signIn();
    });
    this.toggle.addEventListener('click', () => this.togglePassword());
    byId('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.useKey();
    });
    if (params.get('expired') === '1') this.showNotice('login.expired');
  }

  /** Already signed in (another tab, or Back after login): go straight on. */
  async skipIfSignedIn() {
    try {
      const me = await createApiClient({}).me();
      if (me?.user) {
        window.location.replace(destinationFor(me.user).toString());
        return true;
      }
    } catch {
      // Not signed in (or no accounts on this server): stay.
    }
    return false;
  }

  async signIn() {
    if (this.busy || Date.now() < this.waitUntil) return;
    const username = this.username.value.trim();
    const password = this.password.value;
    if (!username || !password) {
      this.showError('login.missing');
      (username ? this.password : this.username).focus();
      return;
    }
    this.setBusy(true);
    try {
      const result = await login(username, password);
      document.body.dataset.signedIn = '1';
      window.location.replace(destinationFor(result?.user).toString());
    } catch (error) {
      this.setBusy(false);
      this.failed(error);
    }
  }

  failed(error) {
    const status = error instanceof ApiError ? error.status : 0;
    if (status === 401 || status === 400 || status === 422) {
      this.showError('login.bad');
      this.password.select();
      this.password.focus();
    } else if (status === 429) {
      this.startWait(error.retryAfter || 60);
    } else if (status === 404 || status === 405) {
      this.showError('login.unsupported');
      byId('access-required').open = true;
    } else if (status === 0) {
      this.showError('login.network');
    } else {
      this.showError('login.server', { n: status });
    }
  }

  /** 429: the button stays disabled and the message counts down the wait the server asked for. */
  startWait(seconds) {
    this.waitUntil = Date.now() + seconds * 1000;
    clearInterval(this.timer);
    const tick = () => {
      const left = Math.ceil((this.waitUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(this.timer);
        this.submit.disabled = false;
        this.showError('login.tooManyNow', {}, 'info');
        return;
      }
      this.submit.disabled = true;
      this.showError('login.tooMany', { s: left }, 'wait');
    };
    tick();
    this.timer = setInterval(tick, 1000);
  }

  async useKey() {
    const input = byId('key-input');
    const token = input.value.trim();
    if (!token) return;
    try {
      await createApiClient({ token }).config();
    } catch (error) {
      if (error instanceof AuthError) {
        this.showError('login.keyBad');
        input.select();
        return;
      }
      // Unreachable server: the page itself will say so.
    }
    let user = null;
    try {
      user = describeCaller(await createApiClient({ token }).me());
    } catch {
      // The API does not describe keys: the role shows once the page loads.
    }
    storeToken(token);
    window.location.replace(destinationFor(user).toString());
  }

  togglePassword() {
    const show = this.password.type === 'password';
    this.password.type = show ? 'text' : 'password';
    this.toggle.setAttribute('aria-pressed', String(show));
    this.relabel();
  }

  setBusy(busy) {
    this.busy = busy;
    this.submit.disabled = busy;
    document.body.dataset.busy = busy ? '1' : '0';
    this.relabel();
  }

  showError(key, values = {}, tone = 'error') {
    this.message = { key, values, tone };
    this.renderMessage();
  }

  showNotice(key) {
    this.notice.dataset.key = key;
    setText(this.notice, t(key));
    this.notice.hidden = false;
  }

  renderMessage() {
    if (!this.message) {
      this.error.hidden = true;
      return;
    }
    this.error.dataset.tone = this.message.tone;
    this.error.dataset.key = this.message.key;
    setText(this.error, t(this.message.key, this.message.values));
    this.error.hidden = false;
  }

  relabel() {
    setText(this.submit, t(this.busy ? 'login.busy' : 'login.submit'));
    setText(this.toggle, t(this.password.type === 'password' ? 'login.show' : 'login.hide'));
    if (this.notice.dataset.key) setText(this.notice, t(this.notice.dataset.key));
    this.renderMessage();
  }
}

async function main() {
  initLang();
  const markToggle = bindLanguageToggle();
  const page = new LoginPage();
  onLangChange(() => {
    markToggle();
    page.relabel();
  });
  page.relabel();
  if (await page.skipIfSignedIn()) return;
  document.body.dataset.ready = '1';
  page.username.focus();
}

main();
