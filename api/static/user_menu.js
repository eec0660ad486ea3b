/** The header's account widget: who is signed in, their role, and the sign-out button. */

import { byId, h, setData, setText } from './dom.js';
import { addStrings, t } from './i18n.js';
import { PAGES, signOut } from './session.js';

// Who reads the response-time analytics (the API says the same: admin and viewer).
const ANALYSTS = ['admin', 'viewer'];

addStrings({
  vi: {
    'role.admin': 'Quản trị',
    'role.dispatcher': 'Điều phối viên',
    'role.hospital': 'Bệnh viện',
    'role.viewer': 'Chỉ xem',
    'role.key': 'Mã truy cập',
    'user.logout': 'Đăng xuất',
    'user.forgetKey': 'Thoát',
    'user.label': 'Tài khoản',
    'nav.analytics': 'Phân tích',
    'nav.map': 'Bản đồ',
  },
  en: {
    'role.admin': 'Administrator',
    'role.dispatcher': 'Dispatcher',
    'role.hospital': 'Hospital',
    'role.viewer': 'Viewer',
    'role.key': 'Access key',
    'user.logout': 'Sign out',
    'user.forgetKey': 'Exit',
    'user.label': 'Account',
    'nav.analytics': 'Analytics',
    'nav.map': 'Map',
  },
});

export function roleLabel(role) {
  const key = `role.${role}`;
  const label = t(key);
  return label === key ? String(role ?? '') : label;
}

export class UserMenu {
  /** Fills `#user-menu` for `session` ({ mode, user }); `relabel()` after a language change. */
  constructor(session) {
    this.session = session;
    this.root = byId('user-menu');
    this.name = h('span', { id: 'user-name', class: 'user-name' });
    this.role = h('span', { id: 'user-role', class: 'role-badge' });
    this.button = h('button', { type: 'button', id: 'logout', class: 'btn user-logout', onclick: () => this.signOut() });
    // Admins and viewers move between the live map and the analytics.
    this.onAnalytics = window.location.pathname === PAGES.analytics().pathname;
    const target = this.onAnalytics ? PAGES.dispatcher() : PAGES.analytics();
    this.nav = ANALYSTS.includes(session.user?.role) ? h('a', { id: 'nav-link', class: 'btn', href: target.pathname }) : null;
    this.root.replaceChildren(...[this.nav, h('span', { class: 'user-who' }, this.name, this.role), this.button].filter(Boolean));
    this.root.hidden = false;
    this.relabel();
  }

  relabel() {
    const { user, mode } = this.session;
    const role = user?.role ?? 'key';
    setText(this.name, user ? user.display_name || user.username || '' : '');
    this.name.hidden = !user;
    setText(this.role, roleLabel(role));
    setData(this.role, 'role', role);
    setData(this.root, 'role', role);
    setText(this.button, mode === 'session' ? t('user.logout') : t('user.forgetKey'));
    if (this.nav) setText(this.nav, t(this.onAnalytics ? 'nav.map' : 'nav.analytics'));
    this.root.setAttribute('aria-label', t('user.label'));
  }

  async signOut() {
    this.button.disabled = true;
    await signOut(this.session);
  }
}
