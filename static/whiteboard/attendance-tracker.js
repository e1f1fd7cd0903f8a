/**
 * attendance-tracker.js: tells the attendance service that this participant is on a
 * whiteboard session. One file, no dependencies; another whiteboard can embed it.
 *
 * Usage, on a page of the app (Django session; CSRF token read from the csrftoken cookie):
 *
 *   <script src="/static/whiteboard/attendance-tracker.js"></script>
 *   <script>
 *     const tracker = AttendanceTracker.start({
 *       whiteboardId: 42,
 *       onStatus(state, detail) { badge.textContent = state; },
 *     });
 *     // tracker.connectionId: this tab's connection id (a new one after each reconnect)
 *     // tracker.stop(): send the disconnect and stop for good
 *   </script>
 *
 * Elsewhere: start({ whiteboardId, baseUrl: "https://attendance.example.com",
 *                    headers: { Authorization: "Bearer <token>" }, token: "<token>" });
 *   csrfToken: "..." overrides the cookie; `token` is sent as the socket's first message (never in a URL).
 * transport: "websocket" (default where the browser has WebSocket) or "http" (heartbeats only).
 * onPresence(presence): who is on the whiteboard, pushed over the socket ({ tutor: { connected, hidden }, student }).
 * onWelcome(): the socket was welcomed (each time, reconnects too); onMessage(message): any other message the
 * server sends on the socket (the shared board's, docs/websockets.md); tracker.send(message): send one on the
 * socket, false when it is not open and welcomed (over HTTP, for instance).
 * With your own WebSocket, presence can follow it instead: AttendanceTracker.attach(socket, { whiteboardId }),
 * or call tracker.socketOpened() / tracker.socketClosed() from your own onopen / onclose.
 *
 * onStatus(state, detail) states (detail.transport: "websocket" or "http"):
 *   "connecting" | "connected" ({ connectionId, heartbeatInterval }) | "hidden" (connected, this tab hidden)
 *   "reconnecting" ({ attempt, retryInMs, status?, error? }): a request failed or the socket dropped, retrying
 *   "offline" ({ reason }): "stopped", "socket_closed", "left_page", "unauthorized" (401/403, close 4401),
 *              "not_found" (not a participant: 404, 4404), "outside_presence_window" (409 or 4408: too early or too late;
 *              over HTTP, detail has the body's opens_at and closes_at) or "rejected" (another 4xx)
 *
 * WebSocket first: it opens ws(s)://.../ws/whiteboard/sessions/{id}/ (the socket is the connection: open is
 * connect, close is disconnect), pings every heartbeat_interval s and sends the tab's visibility when it
 * changes. A dropped socket reconnects with jittered exponential backoff. When a socket cannot open twice
 * in a row before one was ever welcomed (a proxy that refuses WebSockets), or drops three times within
 * two minutes, the tracker falls back to HTTP for the rest of the page's life. Once the page was
 * welcomed, sockets that fail to open are an outage (its node restarting), not a proxy: it keeps trying
 * the socket, naming the connection it had, and falls back only after SOCKET_OUTAGE_MS of failed opens.
 * On HTTP it POSTs .../api/whiteboard/sessions/{id}/connect with a fresh connection_id, then heartbeats
 * at the interval the server returned with the tab's visibility (and at once when it changes). Network errors and 5xx: retry with exponential backoff and jitter, up to
 * 30 s. 409 or unknown_connection (the server closed us, e.g. after sleep): connect again with a new id.
 * The timer runs in a Worker because browsers throttle a background tab's own timers.
 * On pagehide the socket closes (1000) or the disconnect goes out with fetch keepalive.
 * The browser's clock is never sent.
 */
(function (global) {
  "use strict";

  const MAX_BACKOFF_MS = 30000;
  const SOCKET_OPEN_FAILURES = 2;      // a socket that cannot open this often in a row, never welcomed: HTTP instead
  const SOCKET_OUTAGE_MS = 45000;      // welcomed before: sockets failing to open this long (the visible timeout)
  const SOCKET_DROPS = 3;              // a socket that drops this often...
  const SOCKET_DROP_WINDOW_MS = 120000; // ...within this long: HTTP instead
  // Close codes after which trying again cannot help (whiteboard/live.py lists them all).
  const FINAL_CLOSE = { 4401: "unauthorized", 4404: "not_found", 4408: "outside_presence_window" };
  // The timer lives in a Worker built from this source, so the tracker stays one file.
  const WORKER_SOURCE =
    "let t = null;" +
    "onmessage = (e) => { clearTimeout(t); clearInterval(t); t = null;" +
    "  if (e.data.ms > 0) t = (e.data.repeat ? setInterval : setTimeout)(() => postMessage(0), e.data.ms); };";

  /** One timer (repeating or one-shot), in a Worker when possible, on the page otherwise. */
  function createTimer(onFire) {
    let worker = null, url = null, handle = null;
    try {
      url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      worker = new Worker(url);
      worker.onmessage = onFire;
    } catch (e) {
      worker = null; // no Workers (or a CSP without blob:): page timers still work, only slower in background tabs
    }
    function cancel() {
      if (worker) worker.postMessage({ ms: 0 });
      clearTimeout(handle); clearInterval(handle); handle = null;
    }
    function set(ms, repeat) {
      cancel();
      if (worker) worker.postMessage({ ms, repeat });
      else handle = (repeat ? setInterval : setTimeout)(onFire, ms);
    }
    return {
      every: (ms) => set(ms, true),
      once: (ms) => set(ms, false),
      cancel,
      close() { cancel(); if (worker) worker.terminate(); if (url) URL.revokeObjectURL(url); },
    };
  }

  function readCookie(name) {
    const match = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function newId() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context (https or localhost); build a version 4 UUID by hand otherwise.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  const visibility = () => (document.visibilityState === "hidden" ? "hidden" : "visible");

  function createTracker(opts) {
    if (!opts || opts.whiteboardId == null) throw new TypeError("AttendanceTracker: whiteboardId is required");
    const base = `${opts.baseUrl || ""}/api/whiteboard/sessions/${encodeURIComponent(opts.whiteboardId)}/`;
    const origin = opts.baseUrl || global.location.origin;
    const socketUrl = `${origin.replace(/^http/, "ws")}/ws/whiteboard/sessions/${encodeURIComponent(opts.whiteboardId)}/`;
    let transport = opts.transport || (typeof global.WebSocket === "function" ? "websocket" : "http");
    let socket = null;           // the open (or opening) WebSocket
    let openFailures = 0;        // sockets in a row that closed before the server welcomed them
    let failingSince = null;     // when the first of them closed (ms)
    let drops = [];              // when welcomed sockets dropped, for the fall-back rule
    let heard = 0;               // when the server last said anything on the socket (ms)
    let active = false;          // we want to be connected (between socketOpened and socketClosed/stop)
    let stopped = false;         // stop() was called: nothing ever again
    let connectionId = null;     // the id the server knows this tab by, once connected
    let resumeId = null;         // the socket's last connection id: a socket back after a drop names it (resume)
    let everConnected = false;
    let failures = 0;
    let epoch = 0;               // bumped when tracking stops: answers to older requests are ignored
    let connectingIn = -1;       // the epoch whose connect is in flight
    let beating = false;         // a heartbeat is in flight...
    let beatAgain = false;       // ...and the visibility changed meanwhile: send another after it
    let pending = null;          // what the timer does when it fires: connect or heartbeat
    let state = null;
    const timer = createTimer(() => pending && pending());

    function report(next, detail) {
      state = next;
      const full = Object.assign({ transport }, detail || {});
      try { if (opts.onStatus) opts.onStatus(next, full); } catch (e) { console.error(e); }
    }

    let interval = 15;
    /** Connected, or connected with this tab hidden: the real state, on every visibility change too. */
    function reportConnected() {
      report(visibility() === "hidden" ? "hidden" : "connected", { connectionId, heartbeatInterval: interval });
    }

    function backoff() {
      failures += 1;
      const ceiling = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1));
      return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    }

    // ---- WebSocket transport ----
    function openSocket() {
      if (!active || socket) return;
      timer.cancel();
      report(everConnected || failures ? "reconnecting" : "connecting", {});
      let welcomed = false;
      const mine = epoch;
      let sock;
      try {
        const resume = resumeId ? `&resume=${encodeURIComponent(resumeId)}` : "";
        sock = new WebSocket(`${socketUrl}?visibility=${visibility()}${resume}`);
      } catch (error) {
        return fallBackToHttp();
      }
      socket = sock;
      sock.onopen = () => {
        heard = Date.now();
        if (opts.token) {
          const auth = { type: "auth", token: opts.token, visibility: visibility() };
          if (resumeId) auth.resume = resumeId;  // still alive on the server: the same presence continues
          sock.send(JSON.stringify(auth));
        }
      };
      sock.onmessage = (event) => {
        heard = Date.now();
        let message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message.type === "welcome") {
          welcomed = true;
          openFailures = 0;
          failingSince = null;
          failures = 0;
          connectionId = resumeId = message.connection_id;
          everConnected = true;
          interval = Math.max(1, Number(message.heartbeat_interval) || 15);
          pending = ping;
          timer.every(interval * 1000);
          reportConnected();
          if (opts.onPresence) opts.onPresence(message.presence);
          if (opts.onWelcome) opts.onWelcome();
        } else if (message.type === "presence") {
          if (opts.onPresence) opts.onPresence(message.presence);
        } else if (opts.onMessage) {
          try { opts.onMessage(message); } catch (e) { console.error(e); }
        }
      };
      sock.onclose = (event) => {
        if (socket === sock) socket = null;
        if (mine !== epoch || !active) return;
        timer.cancel();
        connectionId = null;
        if (FINAL_CLOSE[event.code]) return halt(FINAL_CLOSE[event.code], { code: event.code });
        if (!welcomed) {
          openFailures += 1;
          if (failingSince === null) failingSince = Date.now();
        } else drops = drops.filter((t) => Date.now() - t < SOCKET_DROP_WINDOW_MS).concat([Date.now()]);
        const refused = everConnected
          ? failingSince !== null && Date.now() - failingSince >= SOCKET_OUTAGE_MS
          : openFailures >= SOCKET_OPEN_FAILURES;
        if (refused || drops.length >= SOCKET_DROPS) return fallBackToHttp();
        const retryInMs = welcomed && event.code === 4000 ? 0 : backoff();
        pending = openSocket;
        timer.once(Math.max(1, retryInMs));
        report("reconnecting", { attempt: failures, retryInMs, code: event.code });
      };
    }

    function ping() {
      if (!socket || socket.readyState !== 1) return;
      // Nothing heard for two intervals and a half: the socket is dead though not yet closed.
      if (Date.now() - heard > interval * 2500) { socket.close(4000); return; }
      socket.send(JSON.stringify({ type: "ping" }));
    }

    function fallBackToHttp() {
      transport = "http";
      failures = 0;
      if (socket) { const s = socket; socket = null; s.onclose = null; s.close(1000); }
      connect();
    }

    function headers() {
      const token = opts.csrfToken || readCookie("csrftoken");
      return Object.assign({ "Content-Type": "application/json" }, token ? { "X-CSRFToken": token } : {},
        opts.headers || {});
    }

    function send(action, body, keepalive) {
      return fetch(base + action, {
        method: "POST", headers: headers(), body: JSON.stringify(body), keepalive: !!keepalive,
      });
    }

    async function call(action, body) {
      try {
        const response = await send(action, body);
        const data = await response.json().catch(() => ({}));
        return { status: response.status, data };
      } catch (error) {
        return { status: 0, error };
      }
    }

    /** Decide what to do after a response; true when it was a success. */
    function handle(result, retry) {
      const { status, data } = result;
      if (status >= 200 && status < 300) { failures = 0; return true; }
      const closedByServer = status === 409 || (status === 404 && data && data.code === "unknown_connection");
      if (closedByServer && retry === heartbeat) {
        connectionId = null;      // the server closed it (timed out while we were away): start afresh
        connect();
      } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        const reason = status === 401 || status === 403 ? "unauthorized" : status === 404 ? "not_found"
          : data && data.code === "outside_presence_window" ? "outside_presence_window" : "rejected";
        halt(reason, { status, code: data && data.code, opensAt: data && data.opens_at, closesAt: data && data.closes_at });
      } else {
        const retryInMs = backoff(); // network error, timeout, throttled or 5xx: try again a little later
        pending = retry;
        timer.once(retryInMs);
        report("reconnecting", { attempt: failures, retryInMs, status: status || undefined, error: result.error });
      }
      return false;
    }

    async function connect() {
      if (transport === "websocket") return openSocket();
      if (!active || connectingIn === epoch) return;
      const mine = (connectingIn = epoch);
      timer.cancel();
      const id = newId();
      report(everConnected || failures ? "reconnecting" : "connecting", { connectionId: id });
      const result = await call("connect", { connection_id: id, visibility: visibility() });
      if (connectingIn === mine) connectingIn = -1;
      if (mine !== epoch) {     // stopped meanwhile: do not leave this connection open on the server
        if (result.status === 200) send("disconnect", { connection_id: id }, true).catch(() => {});
        return;
      }
      if (!handle(result, connect)) return;
      connectionId = id;
      everConnected = true;
      beatEvery(result.data);
    }

    /** Heartbeats at the interval the server asked for (it can differ between deployments). */
    function beatEvery(data) {
      interval = Math.max(1, Number(data.heartbeat_interval) || 15);
      pending = heartbeat;
      timer.every(interval * 1000);
      reportConnected();
    }

    async function heartbeat() {
      if (!active || !connectionId || transport !== "http") return;
      if (beating) { beatAgain = true; return; }
      const [mine, id, wasRetry] = [epoch, connectionId, failures > 0];
      beating = true;
      const result = await call("heartbeat", { connection_id: id, visibility: visibility() });
      beating = false;
      if (mine !== epoch || id !== connectionId) return;
      if (!handle(result, heartbeat)) return;
      if (wasRetry) beatEvery(result.data);  // back from backoff: the regular rhythm again
      if (beatAgain) { beatAgain = false; heartbeat(); }
    }

    /** Tell the server this tab is gone. keepalive lets the request outlive the page. */
    function disconnect() {
      timer.cancel();
      pending = null;
      if (socket) {               // closing the socket is the disconnect
        const s = socket;
        socket = null;
        connectionId = null;
        if (s.readyState <= 1) s.close(1000);
        return;
      }
      if (!connectionId) return;
      send("disconnect", { connection_id: connectionId }, true).catch(() => {});
      connectionId = null;
    }

    function halt(reason, detail) {
      active = false;
      epoch += 1;
      disconnect();
      report("offline", Object.assign({ reason }, detail));
    }

    function onVisibilityChange() {
      if (!connectionId) return;
      if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "visibility", visibility: visibility() }));
      else heartbeat();
      reportConnected();
    }
    function onPageHide() { if (active) { disconnect(); report("offline", { reason: "left_page" }); } }
    function onPageShow(event) { if (event.persisted && active && !connectionId) connect(); } // back from bfcache
    function onOnline() { if (active && failures && pending) { timer.cancel(); failures = 0; pending(); } }
    const listening = new AbortController();
    const on = { signal: listening.signal };
    document.addEventListener("visibilitychange", onVisibilityChange, on);
    global.addEventListener("pagehide", onPageHide, on);
    global.addEventListener("pageshow", onPageShow, on);
    global.addEventListener("online", onOnline, on);

    return {
      get connectionId() { return connectionId; },
      get state() { return state; },
      get transport() { return transport; },
      /** Send a message on the welcomed socket; false when there is none. */
      send(message) {
        if (!socket || socket.readyState !== 1 || !connectionId) return false;
        socket.send(JSON.stringify(message));
        return true;
      },
      /** Start (or resume) tracking: call from a WebSocket's onopen. Harmless when already connected. */
      socketOpened() {
        if (stopped || active) return;
        active = true;
        failures = 0;
        connect();
      },
      /** Stop tracking until the next socketOpened(): call from a WebSocket's onclose. */
      socketClosed() { if (active) halt("socket_closed"); },
      /** Send the disconnect and stop for good. */
      stop() {
        if (stopped) return;
        if (active) halt("stopped"); else report("offline", { reason: "stopped" });
        stopped = true;
        timer.close();
        listening.abort();
      },
    };
  }

  const AttendanceTracker = {
    /** Create a tracker and connect now. */
    start(opts) {
      const tracker = createTracker(opts);
      tracker.socketOpened();
      return tracker;
    },
    /** Create a tracker that is connected while `socket` (a WebSocket) is open. */
    attach(socket, opts) {
      const tracker = createTracker(opts);
      socket.addEventListener("open", () => tracker.socketOpened());
      socket.addEventListener("close", () => tracker.socketClosed());
      if (socket.readyState === 1) tracker.socketOpened(); // already open
      return tracker;
    },
  };

  global.AttendanceTracker = AttendanceTracker;
})(typeof window !== "undefined" ? window : globalThis);
