/** Formatting of times (always Asia/Ho_Chi_Minh), ages, speeds and headings for display. */

import { lang, t } from './i18n.js';

export const TIME_ZONE = 'Asia/Ho_Chi_Minh';
const LOCALES = { vi: 'vi-VN', en: 'en-GB' };
const formatters = new Map();

function partsFormatter(language) {
  if (!formatters.has(language)) {
    formatters.set(
      language,
      new Intl.DateTimeFormat(LOCALES[language] ?? LOCALES.vi, {
        timeZone: TIME_ZONE,
        weekday: 'long',
        day: '2-digit',
        month: '2-digit',
        year: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
      }),
    );
  }
  return formatters.get(language);
}

/** Splits a date into Da Nang wall-clock parts, in a fixed order whatever the locale's own. */
function wallClock(date) {
  const parts = {};
  for (const { type, value } of partsFormatter(lang()).formatToParts(date)) parts[type] = value;
  return {
    time: `${parts.hour}:${parts.minute}:${parts.second}`,
    date: `${parts.day}/${parts.month}/${parts.year}`,
    weekday: parts.weekday,
  };
}

/** Parses an ISO 8601 timestamp (any fraction length, Z or offset) to epoch ms; NaN when absent. */
export function parseTime(iso) {
  return typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
}

/** The header clock: { time: '15:04:05', date: 'Thứ Sáu, 27/11/2026' }. */
export function formatClock(date) {
  const clock = wallClock(date);
  return { time: clock.time, date: `${clock.weekday}, ${clock.date}` };
}

/**
 * A UTC ISO timestamp as Da Nang local time: 'HH:mm:ss' when it falls on today's Da Nang date,
 * else 'dd/mm/yyyy HH:mm:ss'; an em dash when absent.
 */
export function formatDateTime(iso, now = new Date()) {
  const ms = parseTime(iso);
  if (Number.isNaN(ms)) return '—';
  const clock = wallClock(new Date(ms));
  return clock.date === wallClock(now).date ? clock.time : `${clock.date} ${clock.time}`;
}

/** A last-seen age in seconds as '3 giây trước' / '3 s ago' (coarser units past a minute). */
export function formatAge(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return t('age.never');
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return t('age.s', { n: s });
  if (s < 3600) return t('age.m', { n: Math.floor(s / 60) });
  if (s < 86400) return t('age.h', { n: Math.floor(s / 3600) });
  return t('age.d', { n: Math.floor(s / 86400) });
}

/** Speed rounded to 1 km/h (the national rule's resolution). */
export function formatSpeed(kmh) {
  return typeof kmh === 'number' && Number.isFinite(kmh) ? `${Math.round(kmh)} km/h` : '—';
}

/** Heading as '180° (N)' with an eight-point compass abbreviation in the current language. */
export function formatHeading(degrees) {
  if (typeof degrees !== 'number' || !Number.isFinite(degrees)) return '—';
  const normalised = ((degrees % 360) + 360) % 360;
  const points = t('compass').split(',');
  return `${Math.round(normalised)}° (${points[Math.round(normalised / 45) % 8]})`;
}

/** A number with a unit, or an em dash when absent. */
export function formatQuantity(value, unit, digits = 0) {
  return typeof value === 'number' && Number.isFinite(value) ? `${value.toFixed(digits)}${unit}` : '—';
}

/** Latitude/longitude to 5 decimals (about 1 m). */
export function formatCoords(lat, lon) {
  return Number.isFinite(lat) && Number.isFinite(lon) ? `${lat.toFixed(5)}, ${lon.toFixed(5)}` : '—';
}

/**
 * An event time in Da Nang: { time: 'HH:mm:ss', date: 'dd/mm' or '' when it is today,
 * full: 'dd/mm/yyyy HH:mm:ss' }; null when absent.
 */
export function formatEventTime(iso, now = new Date()) {
  const ms = parseTime(iso);
  if (Number.isNaN(ms)) return null;
  const clock = wallClock(new Date(ms));
  const today = clock.date === wallClock(now).date;
  return { time: clock.time, date: today ? '' : clock.date.slice(0, 5), full: `${clock.date} ${clock.time}` };
}

/** A time of day 'HH:mm' in Da Nang (prefixed 'dd/mm' when not today); an em dash when absent. */
export function formatShortTime(iso, now = new Date()) {
  const when = formatEventTime(iso, now);
  if (!when) return '—';
  const hhmm = when.time.slice(0, 5);
  return when.date ? `${when.date} ${hhmm}` : hhmm;
}

/** A duration as '1 giờ 05 phút', '3 phút 20 giây', '45 giây' (or h/min/s in English). */
export function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (hours > 0) return t('dur.hm', { h: hours, m: String(minutes).padStart(2, '0') });
  if (minutes > 0) return rest ? t('dur.ms', { m: minutes, s: rest }) : t('dur.m', { m: minutes });
  return t('dur.s', { s: rest });
}

/** Elapsed time as a clock: 'm:ss' under an hour, 'h:mm:ss' beyond. */
export function formatElapsed(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hours ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hours ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A number rounded for a sentence: 78 for 78.4; '?' when absent. */
export function formatNumber(value, digits = 0) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '?';
}

/** A distance: '850 m' below 1 km, else '2,3 km' (decimal comma in Vietnamese); an em dash when absent. */
export function formatDistance(metres) {
  if (typeof metres !== 'number' || !Number.isFinite(metres)) return '—';
  if (metres < 1000) return `${Math.max(0, Math.round(metres / 10) * 10)} m`;
  const km = metres / 1000;
  const text = km.toFixed(km < 10 ? 1 : 0);
  return `${lang() === 'vi' ? text.replace('.', ',') : text} km`;
}

/** Travel time in whole minutes, rounded up: '4 phút' / '4 min'; under a minute '< 1 phút'. */
export function formatMinutes(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return t('dur.lessThanMinute');
  return t('dur.m', { m: Math.ceil(seconds / 60) });
}

/** A countdown as 'm:ss' (or 'h:mm:ss'); past zero it stays at '0:00'. */
export function formatCountdown(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  return formatElapsed(Math.max(0, Math.ceil(seconds)));
}
