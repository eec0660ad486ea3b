/**
 * The analytics page (/analytics): whether the city meets the 8-minute target, where and when it
 * does not, the two levers (unit utilisation, hospital handover), and the exports. For admins and
 * viewers; the figures come from /api/v1/analytics (pre-aggregated by amb-tracker).
 */

import './analytics_strings.js';
import { showAccessRequired } from './access.js';
import { AuthError } from './api.js';
import { AnalyticsCharts } from './analytics_charts.js';
import { AnalyticsMap } from './analytics_map.js';
import { DEFAULT_CONFIG, normaliseConfig } from './config.js';
import { byId, h, setText } from './dom.js';
import { TIME_ZONE } from './format.js';
import { lang, onLangChange, t } from './i18n.js';
import { openSessionWithRetry, startHeader } from './page_start.js';
import { goToLogin } from './session.js';
import { UserMenu } from './user_menu.js';

/** Test hook: what the page shows. */
const ambState = { ready: false, summary: null, units: null, reach: null, incidents: 0, lang: 'vi', downloads: [] };
window.ambState = ambState;

function localDay(date) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
}

const minutesText = (seconds) => (typeof seconds === 'number' ? t('an.min', { m: (seconds / 60).toFixed(1) }) : '—');
const shareText = (share) => (typeof share === 'number' ? `${Math.round(share * 100)} %` : '—');

class AnalyticsPage {
  constructor(session) {
    this.client = session.client;
    this.session = session;
    this.charts = new AnalyticsCharts();
    this.summary = null;
    this.units = [];
    this.definitions = {};
  }

  async start() {
    const params = new URLSearchParams(window.location.search);
    const today = new Date();
    byId('f-to').value = params.get('to') ?? localDay(today);
    byId('f-from').value = params.get('from') ?? localDay(new Date(today.getTime() - 29 * 86400e3));
    const lastMonth = new Date(today.getFullYear(), today.getMonth() - 1, 15);
    byId('f-month').value = localDay(lastMonth).slice(0, 7);
    byId('an-filter').addEventListener('submit', (event) => {
      event.preventDefault();
      this.load();
    });
    byId('export-csv').addEventListener('click', () => this.download(`analytics/journeys.csv?${this.query()}`, 'journeys.csv'));
    byId('export-pdf').addEventListener('click', () => this.download(`analytics/report.pdf?month=${byId('f-month').value}&include_demo=${byId('f-demo').checked}`, `report-${byId('f-month').value}.pdf`));
    const config = normaliseConfig(await this.client.config().catch(() => DEFAULT_CONFIG));
    this.map = new AnalyticsMap(byId('an-map'), byId('an-map-legend'), config);
    const [roads, hospitals, reach] = await Promise.all([this.client.roads(), this.client.hospitals(), this.client.analytics('reach', 'minutes=8')]);
    this.map.roads(roads, Boolean(config.tile_url));
    this.map.hospitals(hospitals);
    this.map.showReach(reach);
    ambState.reach = reach;
    await this.load();
  }

  query() {
    const q = new URLSearchParams({ from: byId('f-from').value, to: byId('f-to').value, bucket: byId('f-bucket').value, include_demo: String(byId('f-demo').checked) });
    if (byId('f-priority').value) q.set('priority', byId('f-priority').value);
    if (byId('f-area').value) q.set('area_id', byId('f-area').value);
    return q.toString();
  }

  async load() {
    document.body.dataset.ready = '0';
    const query = this.query();
    try {
      const [summary, units, incidents] = await Promise.all([
        this.client.analytics('summary', query),
        this.client.analytics('units', query),
        this.client.analytics('incidents', query),
      ]);
      byId('an-error').hidden = true;
      this.summary = summary;
      this.units = units.units ?? [];
      this.definitions = Object.fromEntries((summary.intervals ?? []).map((i) => [i.column, i]));
      this.fillAreas(summary.area_list ?? []);
      this.map.showIncidents(incidents);
      Object.assign(ambState, { summary, units: this.units, incidents: incidents.features?.length ?? 0 });
      this.render();
    } catch (error) {
      if (error instanceof AuthError) throw error;
      byId('an-error').hidden = false;
      setText(byId('an-error'), error.detail || error.message);
    }
    ambState.ready = true;
    document.body.dataset.ready = '1';
  }

  fillAreas(areas) {
    const select = byId('f-area');
    const chosen = select.value;
    const name = (a) => (lang() === 'en' ? a.name_en || a.name_vi : a.name_vi);
    select.replaceChildren(h('option', { value: '', text: t('an.all') }), ...areas.map((a) => h('option', { value: String(a.id), text: name(a) })));
    select.value = chosen;
  }

  render() {
    if (!this.summary) return;
    const s = this.summary;
    const demo = byId('an-demo');
    demo.hidden = !s.demo_journeys;
    setText(demo, t('an.demo', { n: s.demo_journeys, total: s.journeys }));
    this.renderKpis(s.overall);
    this.charts.render(s, this.units);
    this.renderIntervals(s.intervals ?? []);
    for (const node of document.querySelectorAll('[data-def]')) setText(node, this.definitionText(node.dataset.def));
  }

  definitionText(column) {
    const d = this.definitions[column];
    return d ? (lang() === 'en' ? d.en : d.vi) : '';
  }

  renderKpis(o) {
    const met = typeof o.p90_s === 'number' ? (o.p90_s <= (this.summary.targets?.urban_s ?? 480) ? 'met' : 'missed') : 'none';
    const card = (label, value, verdict) => h('div', { class: 'an-kpi', dataset: verdict ? { verdict } : {} }, h('div', { class: 'label', text: label }), h('div', { class: 'value', text: value }));
    byId('an-kpis').replaceChildren(
      card(t('an.kpiN'), String(o.n ?? 0)),
      card(t('an.kpiP50'), minutesText(o.p50_s)),
      card(t('an.kpiP90'), minutesText(o.p90_s)),
      card(t('an.kpi8'), shareText(o.within_8)),
      card(t('an.kpi15'), shareText(o.within_15)),
      card(t('an.kpiVerdict'), met === 'none' ? t('an.nodata') : t(`an.${met}`), met),
    );
  }

  renderIntervals(intervals) {
    const head = h('tr', {}, ...[['an.colInterval', ''], ['an.colN', 'num'], ['an.kpiP50', 'num'], ['an.kpiP90', 'num'], ['an.colDef', '']].map(([key, cls]) => h('th', { class: cls, text: t(key) })));
    const rows = intervals.map((i) =>
      h('tr', { dataset: { interval: i.column } }, h('td', { text: t(`an.interval.${i.column}`) }), h('td', { class: 'num', text: String(i.n) }), h('td', { class: 'num', text: minutesText(i.p50_s) }), h('td', { class: 'num', text: minutesText(i.p90_s) }), h('td', { class: 'def', text: lang() === 'en' ? i.en : i.vi })),
    );
    byId('an-intervals').replaceChildren(h('thead', {}, head), h('tbody', {}, rows));
  }

  /** Fetches a file with this page's credentials and hands it to the browser as a download. */
  async download(path, name) {
    try {
      const blob = await this.client.download(path);
      ambState.downloads.push({ path, size: blob.size, type: blob.type });
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      byId('an-error').hidden = false;
      setText(byId('an-error'), t('an.downloadFailed', { e: error.detail || error.message }));
    }
  }

  relabel() {
    document.title = t('an.pageTitle');
    this.map?.relabel();
    if (this.summary) this.fillAreas(this.summary.area_list ?? []);
    this.render();
  }
}

function deny(session) {
  if (session.mode === 'session' && !session.user) goToLogin({ expired: true });
  else {
    byId('app').hidden = true;
    showAccessRequired('denied');
    const note = h('p', { class: 'access-denied', role: 'alert', text: t('an.forbidden') });
    byId('access-content').prepend(note);
  }
}

async function main() {
  const { markToggle, clockTick } = startHeader();
  byId('conn-status').hidden = true; // no live stream on this page: only the clock
  ambState.lang = lang();
  const session = await openSessionWithRetry();
  if (session.mode === 'login') return;
  if (session.mode === 'none') {
    showAccessRequired('missing');
    return;
  }
  const userMenu = new UserMenu(session);
  const page = new AnalyticsPage(session);
  onLangChange(() => {
    ambState.lang = lang();
    markToggle();
    clockTick();
    userMenu.relabel();
    page.relabel();
  });
  page.start().catch((error) => {
    if (error instanceof AuthError) deny(session);
    else console.error('analytics page failed to start', error);
  });
}

main();
