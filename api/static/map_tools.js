/**
 * The dispatcher's tools over the map, which take turns: geofences (shown, picked, drawn and
 * edited), the replay of a journey, and (dispatchers and admins) creating a journey.
 */

import { DispatchTool } from './dispatch.js';
import { GeofenceEditor } from './geofence_editor.js';
import { GeofenceLayer } from './geofences.js';
import { ReplayPlayer } from './replay.js';

export class MapTools {
  /**
   * `host` gives: client, editor (may edit), zonesShown() (the zones tab is open),
   * loadGeofences(), dispatched(journey), deny(). `report(key, state)` mirrors each tool's state
   * to the test hook.
   */
  constructor(map, host, report) {
    const { client, editor } = host;
    this.geofenceLayer = new GeofenceLayer(map, {
      onPick: (id) => this.zones.pick(id),
      pickable: () => host.zonesShown() && !this.zones.draw.active && this.dispatchPhase() === 'idle',
    });
    this.geofenceLayer.group.addTo(map);
    this.zones = new GeofenceEditor(map, {
      client,
      layer: this.geofenceLayer,
      editor,
      reload: () => host.loadGeofences(),
      isShown: () => host.zonesShown(),
      onStart: () => {
        this.dispatch?.cancel();
        // Zones must be visible while they are drawn and edited.
        if (!map.hasLayer(this.geofenceLayer.group)) this.geofenceLayer.group.addTo(map);
      },
      onState: (state) => report('geofences', state),
      onAuthError: () => host.deny(),
    });
    this.replay = new ReplayPlayer(map, { client, onState: (state) => report('replay', state), onAuthError: () => host.deny() });
    this.dispatch = editor
      ? new DispatchTool(map, {
          client,
          onDispatched: (journey) => host.dispatched(journey),
          onBegin: () => {
            if (this.zones.draw.active || this.zones.editing === 'new') this.zones.closeForm();
          },
          onState: (state) => report('dispatch', state),
          onAuthError: () => host.deny(),
        })
      : null;
  }

  dispatchPhase() {
    return this.dispatch?.state.phase ?? 'idle';
  }

  /** The geofences were (re)loaded. */
  setGeofences(collection) {
    this.geofenceLayer.setData(collection);
    this.zones.refresh();
  }

  relabel() {
    this.dispatch?.relabel();
    this.replay.relabel();
    this.zones.relabel();
  }
}
