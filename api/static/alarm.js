/** The alarm tone for SOS and critical events, made with WebAudio (no audio files). */

import { setData } from './dom.js';

const MIN_GAP_MS = 2000; // a burst of critical events sounds once
// [frequency Hz, start s, length s]: SOS is three rising two-tone chirps, other critical events two beeps.
const PATTERNS = {
  sos: [
    [988, 0, 0.16], [740, 0.17, 0.16],
    [988, 0.42, 0.16], [740, 0.59, 0.16],
    [988, 0.84, 0.16], [740, 1.01, 0.16],
  ],
  critical: [[880, 0, 0.22], [880, 0.32, 0.22]],
};

/**
 * Browsers let a page make sound only after a user gesture: the first click or key press
 * anywhere arms the audio. Until then `hint` (a button) is shown, and it pulses when an alarm
 * could not be heard. `onChange({ armed, played }, reason)` runs with reason 'armed' or 'played'.
 */
export class AlarmSound {
  constructor(hint, { onChange = () => {} } = {}) {
    this.hint = hint;
    this.onChange = onChange;
    this.context = null;
    this.armed = false;
    this.played = 0;
    this.lastAt = 0;
    this.lastKind = '';
    this.arm = this.arm.bind(this);
    for (const type of ['pointerdown', 'keydown']) window.addEventListener(type, this.arm, { capture: true });
    hint.hidden = false;
  }

  /** Creates (or resumes) the audio context inside a user gesture. */
  arm() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      this.context ??= new Context();
      this.context.resume?.();
    } catch (error) {
      console.warn('alarm: no audio', error);
      return;
    }
    if (this.armed) return;
    this.armed = true;
    for (const type of ['pointerdown', 'keydown']) window.removeEventListener(type, this.arm, { capture: true });
    this.hint.hidden = true;
    this.onChange(this.state(), 'armed');
  }

  /** Plays the tone for `kind` ('sos' or 'critical'); remembered for later when not armed yet. */
  play(kind) {
    if (!this.armed || !this.context) {
      setData(this.hint, 'urgent', '1');
      return false;
    }
    const nowMs = Date.now();
    // A burst sounds once, but an SOS is never swallowed by another alarm's tone.
    if (nowMs - this.lastAt < MIN_GAP_MS && !(kind === 'sos' && this.lastKind !== 'sos')) return false;
    this.lastAt = nowMs;
    this.lastKind = kind;
    const ctx = this.context;
    const start = ctx.currentTime + 0.02;
    for (const [frequency, offset, length] of PATTERNS[kind] ?? PATTERNS.critical) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = frequency;
      const from = start + offset;
      gain.gain.setValueAtTime(0.0001, from);
      gain.gain.exponentialRampToValueAtTime(0.18, from + 0.015);
      gain.gain.setValueAtTime(0.18, from + length - 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, from + length);
      osc.connect(gain).connect(ctx.destination);
      osc.start(from);
      osc.stop(from + length + 0.02);
    }
    this.played += 1;
    this.onChange(this.state(), 'played');
    return true;
  }

  state() {
    return { armed: this.armed, played: this.played };
  }
}
