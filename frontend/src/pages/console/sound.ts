// The overdue beep: WebAudio, which a browser allows only after a user gesture; the first gesture unlocks it,
// the sound button then toggles mute (remembered on this machine). Three short square-wave tones, at most one
// alarm every 3 s.
import { ref } from "vue";

const MUTE_KEY = "yunguan.console.muted";

type AudioCtor = typeof AudioContext;

export function makeSound() {
  const state = ref<"locked" | "on" | "muted">("locked");
  let ctx: AudioContext | null = null;
  let muted = localStorage.getItem(MUTE_KEY) === "1";
  let lastBeep = 0;
  let justUnlocked = false; // the gesture that created the context is still going on (its click follows)

  const update = () => (state.value = !ctx ? "locked" : muted ? "muted" : "on");

  function unlock() {
    if (!ctx) {
      const AC = (window.AudioContext || (window as unknown as { webkitAudioContext?: AudioCtor }).webkitAudioContext);
      if (!AC) return;
      ctx = new AC();
      justUnlocked = true;
      window.setTimeout(() => (justUnlocked = false), 1000);
    }
    if (ctx.state === "suspended") ctx.resume().then(update, () => {});
    update();
  }

  function beep(force = false) {
    if (!ctx || ctx.state !== "running" || (muted && !force)) return;
    const now = Date.now();
    if (!force && now - lastBeep < 3000) return;
    lastBeep = now;
    const t0 = ctx.currentTime + 0.02;
    [0, 0.28, 0.56].forEach((dt, i) => {
      const osc = ctx!.createOscillator();
      const gain = ctx!.createGain();
      osc.type = "square";
      osc.frequency.value = i === 1 ? 660 : 988;
      gain.gain.setValueAtTime(0.0001, t0 + dt);
      gain.gain.exponentialRampToValueAtTime(0.18, t0 + dt + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + dt + 0.22);
      osc.connect(gain);
      gain.connect(ctx!.destination);
      osc.start(t0 + dt);
      osc.stop(t0 + dt + 0.24);
    });
  }

  let lastSiren = 0;
  /** The urgent-case alert (issue 18): a falling two-tone siren, unlike the overdue beep, three times; muted
   * and locked like it (a browser plays nothing before the page's first gesture). */
  function siren() {
    if (!ctx || ctx.state !== "running" || muted) return;
    const now = Date.now();
    if (now - lastSiren < 2000) return;
    lastSiren = now;
    const t0 = ctx.currentTime + 0.02;
    for (let i = 0; i < 6; i++) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sawtooth";
      osc.frequency.value = i % 2 === 0 ? 1175 : 784;
      const at = t0 + i * 0.3;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.16, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.28);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(at);
      osc.stop(at + 0.3);
    }
  }

  /** The sound button: the first gesture turns sound on, later ones toggle mute; a test tone when on. */
  function toggle() {
    const first = justUnlocked || !ctx;
    unlock();
    justUnlocked = false;
    muted = first ? false : !muted;
    localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
    update();
    if (!muted) window.setTimeout(() => beep(true), 50);
  }

  function listen() {
    document.addEventListener("pointerdown", unlock, true);
    document.addEventListener("keydown", unlock, true);
  }

  return { state, beep, siren, toggle, listen };
}
