/** The analytics page's charts, drawn by the vendored Chart.js (window.Chart); one object per canvas, updated in place. */

import { t } from './i18n.js';

export const COLOURS = { p50: '#56b4e9', p90: '#e69f00', fast: '#34d17a', mid: '#f5b83d', slow: '#e5483b', target: '#ff6b6b', grey: '#8d99a8', mission: '#e69f00', out: '#5f6670', available: '#009e73' };
const TARGET_MIN = 8;

/** Colour of a response time in minutes: within 8, within 15, beyond. */
export function responseColour(minutes) {
  if (minutes == null) return COLOURS.grey;
  return minutes <= 8 ? COLOURS.fast : minutes <= 15 ? COLOURS.mid : COLOURS.slow;
}

const minutes = (seconds) => (typeof seconds === 'number' ? Math.round((seconds / 60) * 10) / 10 : null);
const percent = (share) => (typeof share === 'number' ? Math.round(share * 1000) / 10 : null);

function setDefaults() {
  const Chart = window.Chart;
  Chart.defaults.color = '#a9b8c9';
  Chart.defaults.borderColor = '#2a3a4e';
  Chart.defaults.font.family = 'system-ui, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif';
  Chart.defaults.maintainAspectRatio = false;
  // Screenshots and tests read the chart at once: no entry animation.
  Chart.defaults.animation = false;
}

/** A dashed horizontal line at the 8-minute target, as a line dataset over the labels. */
function targetLine(labels) {
  return { type: 'line', label: t('an.target'), data: labels.map(() => TARGET_MIN), borderColor: COLOURS.target, borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, yAxisID: 'y' };
}

function percentileBars(labels, groups) {
  return {
    labels,
    datasets: [
      { type: 'bar', label: 'p50', data: groups.map((g) => minutes(g.p50_s)), backgroundColor: COLOURS.p50, yAxisID: 'y' },
      { type: 'bar', label: 'p90', data: groups.map((g) => minutes(g.p90_s)), backgroundColor: COLOURS.p90, yAxisID: 'y' },
      { type: 'line', label: t('an.share8'), data: groups.map((g) => percent(g.within_8)), borderColor: COLOURS.fast, backgroundColor: COLOURS.fast, yAxisID: 'share', pointRadius: 2 },
      targetLine(labels),
    ],
  };
}

function percentileScales() {
  return {
    y: { beginAtZero: true, title: { display: true, text: t('an.minutes') } },
    share: { position: 'right', min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: '%' } },
  };
}

export class AnalyticsCharts {
  constructor() {
    setDefaults();
    this.charts = {};
  }

  /** Creates or replaces the chart of a canvas. */
  draw(id, config) {
    this.charts[id]?.destroy();
    this.charts[id] = new window.Chart(document.getElementById(id), config);
  }

  render(summary, units) {
    const periods = summary.periods ?? [];
    const labels = periods.map((p) => p.period);
    this.draw('chart-series', {
      data: {
        labels,
        datasets: [
          { type: 'line', label: 'p50', data: periods.map((p) => minutes(p.p50_s)), borderColor: COLOURS.p50, backgroundColor: COLOURS.p50, yAxisID: 'y', pointRadius: 2 },
          { type: 'line', label: 'p90', data: periods.map((p) => minutes(p.p90_s)), borderColor: COLOURS.p90, backgroundColor: COLOURS.p90, yAxisID: 'y', pointRadius: 2 },
          { type: 'bar', label: t('an.share8'), data: periods.map((p) => percent(p.within_8)), backgroundColor: 'rgba(52, 209, 122, 0.25)', yAxisID: 'share' },
          { type: 'bar', label: t('an.share15'), data: periods.map((p) => percent(p.within_15)), backgroundColor: 'rgba(245, 184, 61, 0.18)', yAxisID: 'share' },
          targetLine(labels),
        ],
      },
      options: { scales: percentileScales(), interaction: { mode: 'index', intersect: false } },
    });
    const histogram = summary.histogram ?? [];
    this.draw('chart-hist', {
      type: 'bar',
      data: {
        labels: histogram.map((b) => (b.minute === histogram.length - 1 ? `≥${b.minute}` : String(b.minute))),
        datasets: [{ label: t('an.journeys'), data: histogram.map((b) => b.n), backgroundColor: histogram.map((b) => responseColour(b.minute + 0.5)) }],
      },
      options: { plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: t('an.minutes') } } } },
    });
    const area = (a) => (document.documentElement.lang === 'en' ? a.name_en || a.name_vi : a.name_vi || a.name_en) ?? '?';
    const shortArea = (name) => name.replace(/^Trung tâm Y tế (quận |huyện |khu vực )?/, '').replace(/ (District|Area) Health Centre.*$/, '');
    this.draw('chart-area', { data: percentileBars((summary.areas ?? []).map((a) => shortArea(area(a))), summary.areas ?? []), options: { scales: percentileScales() } });
    this.draw('chart-hour', { data: percentileBars((summary.hours ?? []).map((h) => `${h.hour}h`), summary.hours ?? []), options: { scales: percentileScales() } });
    const days = t('an.weekdays').split(',');
    this.draw('chart-dow', { data: percentileBars((summary.weekdays ?? []).map((d) => days[d.isodow - 1]), summary.weekdays ?? []), options: { scales: percentileScales() } });
    this.draw('chart-priority', { data: percentileBars((summary.priorities ?? []).map((p) => `P${p.priority}`), summary.priorities ?? []), options: { scales: percentileScales() } });
    this.renderUnits(units);
    this.renderHandover(summary.hospitals ?? []);
  }

  renderUnits(units) {
    const share = (u, key) => (u.period_s > 0 ? Math.round((u[key] / u.period_s) * 1000) / 10 : 0);
    this.draw('chart-units', {
      type: 'bar',
      data: {
        labels: units.map((u) => u.call_sign),
        datasets: [
          { label: t('an.onMission'), data: units.map((u) => share(u, 'mission_s')), backgroundColor: COLOURS.mission },
          { label: t('an.outOfService'), data: units.map((u) => share(u, 'out_of_service_s')), backgroundColor: COLOURS.out },
          { label: t('an.available'), data: units.map((u) => share(u, 'available_s')), backgroundColor: COLOURS.available },
        ],
      },
      options: { indexAxis: 'y', scales: { x: { stacked: true, max: 100, title: { display: true, text: '%' } }, y: { stacked: true } } },
    });
  }

  renderHandover(hospitals) {
    const name = (h) => (document.documentElement.lang === 'en' ? h.name_en || h.name_vi : h.name_vi || h.name_en) ?? '?';
    this.draw('chart-handover', {
      type: 'bar',
      data: {
        labels: hospitals.map(name),
        datasets: [
          { label: 'p50', data: hospitals.map((h) => minutes(h.p50_s)), backgroundColor: COLOURS.p50 },
          { label: 'p90', data: hospitals.map((h) => minutes(h.p90_s)), backgroundColor: COLOURS.p90 },
        ],
      },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, title: { display: true, text: t('an.minutes') } } } },
    });
  }
}
