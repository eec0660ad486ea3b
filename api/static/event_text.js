/** Events as sentences in the current language, built from their kind and details. */

import { formatDuration, formatNumber } from './format.js';
import { t } from './i18n.js';
import { statusLabel } from './status.js';

const ALARMS = ['power_cut', 'low_battery', 'vibration', 'overspeed', 'door', 'tow', 'accident', 'tampering', 'general'];

function text(value) {
  return typeof value === 'string' && value.trim() ? value.trim() : '';
}

function zoneName(event, details) {
  return text(details.geofence) || t('event.zoneN', { id: event.geofence_id ?? '?' });
}

function alarmName(alarm) {
  return ALARMS.includes(alarm) ? t(`alarm.${alarm}`) : text(alarm) || t('alarm.general');
}

/** '(tự động)' for a rule, '(bởi dispatcher-name)' for a person, '' when neither is known. */
function source(details) {
  if (text(details.rule)) return t('event.byRule', { r: details.rule });
  if (text(details.by)) return t('event.byPerson', { p: details.by });
  return '';
}

function statusChange(c, event, details, ctx) {
  if (details.from === null || details.from === undefined) {
    const address = text(ctx.journey(event.journey_id)?.incident_address);
    const base = address ? t('event.dispatchedTo', { c, a: address }) : t('event.dispatched', { c });
    return `${base}${source(details)}`;
  }
  return `${t('event.status', { c, s: statusLabel(details.to) })}${source(details)}`;
}

const SENTENCES = {
  geofence_enter: (c, e, d) =>
    t(d.geofence_kind === 'restricted_zone' ? 'event.enterRestricted' : 'event.enter', { c, g: zoneName(e, d) }),
  geofence_exit: (c, e, d) =>
    t(d.geofence_kind === 'restricted_zone' ? 'event.exitRestricted' : 'event.exit', { c, g: zoneName(e, d) }),
  status_change: statusChange,
  overspeed: (c, e, d) => t('event.overspeed', { c, v: formatNumber(d.speed_kmh), l: formatNumber(d.limit_kmh) }),
  overspeed_end: (c, e, d) =>
    t('event.overspeedEnd', {
      c,
      v: formatNumber(d.max_speed_kmh),
      l: formatNumber(d.limit_kmh),
      d: formatDuration(d.duration_s),
    }),
  long_stop: (c, e, d) => t('event.longStop', { c, d: formatDuration(d.stopped_s) }),
  device_offline: (c, e, d) => t('event.offline', { c, d: formatDuration(d.silent_s) }),
  device_online: (c, e, d) =>
    t(d.gps_fix === false ? 'event.onlineNoFix' : 'event.online', { c, d: formatDuration(d.silent_s) }),
  driving_limit_warning: (c, e, d) =>
    t('event.drivingWarning', { c, d: formatDuration(d.driving_s), l: formatDuration(d.left_s) }),
  driving_limit: (c, e, d) => t('event.drivingLimit', { c, d: formatDuration(d.driving_s) }),
  sos: (c) => t('event.sos', { c }),
  alarm: (c, e, d) => t('event.alarm', { c, a: alarmName(d.alarm) }),
  door_opened: (c) => t('event.door', { c }),
  journey_reassigned: (c, e, d) => t('event.reassigned', { c, r: t(`reason.${d.reason}`) }),
  caller_location: (c, e, d) => t('event.callerLocation', { m: Math.round(d.accuracy_m ?? 0) }),
  caller_location_refused: () => t('event.callerLocationRefused'),
  incident_moved: (c) => t('event.incidentMoved', { c }),
  destination_changed: (c, e, d, ctx) =>
    t('event.destination', {
      c,
      from: ctx.hospitalName(d.from_hospital_id) || t('event.noHospital'),
      to: ctx.hospitalName(d.to_hospital_id) || t('event.noHospital'),
    }),
};

/**
 * The sentence for one event. `ctx` gives names: callSign(vehicleId), hospitalName(id) and
 * journey(id), each returning '' / undefined when unknown.
 */
export function describeEvent(event, ctx) {
  const details = event.details && typeof event.details === 'object' ? event.details : {};
  const callSign = ctx.callSign(event.vehicle_id) || (event.vehicle_id == null ? '—' : `#${event.vehicle_id}`);
  const sentence = SENTENCES[event.kind];
  if (sentence) return sentence(callSign, event, details, ctx);
  return t('event.other', { c: callSign, k: String(event.kind ?? '?') });
}
