// The live feed (contract §7): namespace /console with the page's token; the server puts the socket in the
// rooms its role may see and sends `ticket` events (ticket event v1). `state` says whether the page is live,
// so every page can show "disconnected" instead of silently going stale.
import { io, type Socket } from "socket.io-client";
import { ref, type Ref } from "vue";

export type LiveState = "connecting" | "live" | "down";

export interface Live {
  socket: Socket;
  state: Ref<LiveState>;
  close(): void;
}

export function connectLive(token: string, onTicket: (event: Record<string, unknown>) => void,
                            onReconnect?: () => void): Live {
  const state = ref<LiveState>("connecting");
  const socket = io("/console", { auth: { token }, transports: ["websocket", "polling"] });
  let wasDown = false;
  socket.on("connect", () => {
    state.value = "live";
    if (wasDown && onReconnect) onReconnect(); // events missed while away: the page reloads its list
    wasDown = false;
  });
  socket.on("disconnect", () => {
    state.value = "down";
    wasDown = true;
  });
  socket.on("connect_error", () => {
    state.value = "down";
    wasDown = true;
  });
  socket.on("ticket", (event: Record<string, unknown>) => onTicket(event));
  return { socket, state, close: () => socket.close() };
}
