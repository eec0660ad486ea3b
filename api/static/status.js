/** Unit and journey statuses: their order, labels and how a status change event moves a vehicle. */

import { h, setData, setText } from './dom.js';
import { t } from './i18n.js';

/** What a vehicle can be, in the order of a mission (colours live in app.css as --st-<status>). */
export const UNIT_STATUSES = [
  'available',
  'dispatched',
  'en_route',
  'on_scene',
  'transporting',
  'at_hospital',
  'returning',
  'out_of_service',
];
export const OPEN_JOURNEY_STATUSES = ['dispatched', 'en_route', 'on_scene', 'transporting', 'at_hospital', 'returning'];
export const CLOSED_JOURNEY_STATUSES = ['completed', 'cancelled'];

/** A status the page knows, or 'unknown' (drawn neutral) for anything else. */
export function normaliseStatus(status) {
  return UNIT_STATUSES.includes(status) || CLOSED_JOURNEY_STATUSES.includes(status) ? status : 'unknown';
}

/** The status name in the current language ('sẵn sàng', 'on scene'...). */
export function statusLabel(status) {
  return t(`status.${normaliseStatus(status)}`);
}

/** The vehicle's status after its journey moved to `to`: a closed journey frees the vehicle. */
export function vehicleStatusAfter(to) {
  return CLOSED_JOURNEY_STATUSES.includes(to) ? 'available' : normaliseStatus(to);
}

export function isClosedJourneyStatus(status) {
  return CLOSED_JOURNEY_STATUSES.includes(status);
}

/** Whether the vehicle still heads for the incident (its line points there, not at the hospital). */
export function headsForIncident(status) {
  return status === 'dispatched' || status === 'en_route';
}

/** A coloured status pill: its text plus data-status (colours in app.css). */
export function statusPill(status) {
  const pill = h('span', { class: 'status-pill' });
  setStatusPill(pill, status);
  return pill;
}

export function setStatusPill(pill, status) {
  setData(pill, 'status', normaliseStatus(status));
  setText(pill, statusLabel(status));
}
