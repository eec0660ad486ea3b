/**
 * Test hook (the only global): latest vehicle records by id (each with its `status`), events
 * newest first, open journeys by id, counters, stream and sound state.
 */
export const ambState = {
  user: null,
  mode: '',
  vehicles: {},
  events: [],
  journeys: {},
  fixesReceived: 0,
  eventsReceived: 0,
  connected: false,
  connection: 'connecting',
  lang: 'vi',
  loaded: { events: false, journeys: false, geofences: false },
  etas: {},
  dispatch: null,
  replay: null,
  geofences: null,
  sound: { armed: false, played: 0 },
};
window.ambState = ambState;
