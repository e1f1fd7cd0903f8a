// The whiteboard page: runs the attendance tracker, shows who is here, and the shared drawing board.
(function () {
  "use strict";
  const board = document.getElementById("board");
  if (!board) return;

  // ---- Presence badges ----
  const BADGES = {
    connecting: ["warn", "Connecting…"],
    connected: ["ok", "Connected"],
    hidden: ["ok", "Connected · this tab is hidden"],
    reconnecting: ["warn", "Reconnecting…"],
    offline: ["bad", "Offline"],
    here: ["ok", "On the whiteboard"],
    away: ["neutral", "Not here"],
    unknown: ["neutral", "Checking…"],
    closed: ["neutral", "Not open"],
    otherHidden: ["warn", "On the whiteboard · tab hidden"],
  };

  function setBadge(badge, state, text) {
    const [tone, label] = BADGES[state];
    badge.className = "badge" + (tone === "neutral" ? "" : " badge--" + tone);
    badge.dataset.state = state;
    badge.querySelector("span:last-child").textContent = text || label;
  }

  const selfBadge = document.getElementById("connection-badge");
  const transportNote = document.getElementById("connection-transport");
  const OFFLINE_TEXT = {
    unauthorized: "Offline: sign in again",
    not_found: "Offline: not your session",
    outside_presence_window: "Not open now",
  };
  const otherBadge = document.getElementById("other-badge");
  let polling = null;
  let boardHooks = null; // the board's side of the socket (set up below, before any message can arrive)

  function showOther(presence) {
    const other = presence && presence[board.dataset.otherRole];
    if (!other) return;
    const hidden = other.hidden || other.visibility === "hidden"; // pushed ({hidden}) or read (connection-status)
    setBadge(otherBadge, !other.connected ? "away" : hidden ? "otherHidden" : "here");
  }

  // The other participant: pushed over the presence socket; read every few seconds while it is down.
  async function refreshOther() {
    if (document.visibilityState === "hidden") return;
    try {
      const response = await fetch(board.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) showOther(await response.json());
    } catch (e) {
      /* offline: the tracker's badge already says so */
    }
  }

  function poll(on, everySeconds) {
    if (on && !polling) polling = setInterval(refreshOther, everySeconds * 1000);
    if (!on && polling) { clearInterval(polling); polling = null; }
  }

  // Outside the presence window the server refuses to record presence: do not try. Before it,
  // reload when it opens (the delay comes from the server; the browser's clock is not read).
  const windowState = board.dataset.windowState;
  if (windowState !== "open") {
    setBadge(selfBadge, "closed", windowState === "before" ? "Opens later" : "Closed");
    if (board.dataset.opensIn) setTimeout(() => location.reload(), (Number(board.dataset.opensIn) + 1) * 1000);
    refreshOther(); // who else is here, once: nothing is pushed to a page that records no presence
  }
  const tracker = windowState !== "open" ? null : window.AttendanceTracker.start({
    whiteboardId: board.dataset.whiteboardId,
    csrfToken: board.dataset.csrfToken,
    onPresence: showOther,
    onWelcome: () => boardHooks.welcome(),
    onMessage: (message) => boardHooks.message(message),
    onStatus(state, detail) {
      if (boardHooks) boardHooks.status(state, detail);
      setBadge(selfBadge, state, state === "offline" ? OFFLINE_TEXT[detail.reason] : undefined);
      selfBadge.dataset.transport = detail.transport;
      const live = (state === "connected" || state === "hidden") && detail.transport === "websocket";
      if (transportNote) {
        transportNote.textContent = live ? "live" : detail.transport === "http" ? "updates every few seconds (no live connection)" : "";
      }
      // Pushed while the socket is up; otherwise look now and every few seconds (no more often than we beat).
      const wanted = !live && state !== "offline";
      if (wanted && !polling) refreshOther();
      poll(wanted, Math.min(5, detail.heartbeatInterval || 5));
    },
  });
  window.whiteboardTracker = tracker; // for the console and for tests
  document.addEventListener("visibilitychange", () => { if (polling) refreshOther(); });

  // ---- The shared board ----
  // Live over the presence socket: this tab's strokes go out in batches every 50 ms, the other
  // participant's come in as they are drawn, and each (re)opened socket replays the whole board.
  // Without a live socket (HTTP fallback, outside the presence window) the board is read over HTTP
  // and cannot be drawn on. Limits (docs/websockets.md): long strokes are split before 2,000 points.
  const canvas = document.getElementById("board-canvas");
  const shared = window.WhiteboardBoard.create(canvas);
  window.whiteboardBoard = shared; // for the console and for tests
  const MAX_NUMBERS = 2 * 2000;
  const BATCH_MS = 50;
  const note = document.getElementById("board-note");
  let live = false;
  let tool = "pen";
  let colour = board.querySelector("input[name=pen]:checked").value;
  let width = Number(board.querySelector("[name=width]").value);
  let drawing = null;                 // this tab's stroke under the pointer
  let unsent = [];                    // its points not yet sent
  let flushing = null;
  let pointer = null;                 // the pointer drawing it (one stroke at a time)
  const waiting = new Map();          // id -> stroke waiting for its sequence number
  let nextId = 1;

  function drawn() { board.classList.toggle("board--drawn", shared.size > 0); }

  function setLive(on) {
    live = on;
    board.dataset.live = on ? "true" : "false";
    canvas.classList.toggle("board__canvas--readonly", !on);
    if (note) note.textContent = on ? "" : "Drawing needs a live connection; showing the board as saved.";
  }

  function send(message) { return tracker ? tracker.send(message) : false; }

  function beginStroke(points) {
    const id = `s${nextId++}`;
    const stroke = { tool, colour, width, points: points.slice(), id };
    waiting.set(id, stroke);
    shared.begin(stroke);
    send({ type: "stroke.begin", id, tool, colour, width, points });
    return stroke;
  }

  function flush(end) {
    if (!drawing) return;
    if (unsent.length || end) send({ type: end ? "stroke.end" : "stroke.points", points: unsent });
    unsent = [];
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return shared.toBoard(event.clientX - rect.left, event.clientY - rect.top);
  }

  canvas.addEventListener("pointerdown", (event) => {
    // One stroke at a time: a second finger or a resting palm neither starts another nor feeds this one.
    if (!live || event.button > 0 || drawing) return;
    canvas.setPointerCapture(event.pointerId);
    pointer = event.pointerId;
    drawing = beginStroke(point(event));
    unsent = [];
    clearInterval(flushing);
    flushing = setInterval(() => flush(false), BATCH_MS);
    drawn();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing || event.pointerId !== pointer) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const [x, y] = point(e);
      const p = drawing.points;
      if (p[p.length - 2] === x && p[p.length - 1] === y) continue;
      if (p.length + 2 > MAX_NUMBERS) {    // the server's limit: end here and go on in a new stroke
        flush(true);
        drawing = beginStroke([p[p.length - 2], p[p.length - 1]]);
      }
      drawing.points.push(x, y);
      unsent.push(x, y);
      shared.extend(drawing, drawing.points.length - 2);
    }
  });
  function endStroke(event) {
    if (!drawing || (event && event.pointerId !== pointer)) return;  // no event: the socket went away
    clearInterval(flushing);
    flush(true);
    drawing = null;
  }
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) canvas.addEventListener(type, endStroke);

  function onBoardMessage(message) {
    if (message.type === "board.replay") {
      if (!message.after) for (const stroke of waiting.values()) shared.drop(stroke);
      if (!message.after) waiting.clear();
      shared.replay(message);
      // Timings for bench/board_replay.py (performance marks cost nothing); a frame later it is on screen.
      const mark = (name) => { performance.mark(name); requestAnimationFrame(() => performance.mark(`${name}:painted`)); };
      if (!message.after) mark("board:first-page");
      if (message.done) { board.dataset.replayed = String(shared.size); drawn(); mark("board:replayed"); }
    } else if (message.type === "stroke.begun") {
      const stroke = waiting.get(message.id);
      if (stroke) { waiting.delete(message.id); shared.numbered(stroke, message.sequence); }
    } else if (message.type === "board.error") {
      if (message.request === "stroke.begin" || message.request === "stroke.points") {
        // Refused (board full, stroke too long): what this tab drew of it was not kept; take it off.
        for (const stroke of waiting.values()) shared.drop(stroke);
        waiting.clear();
        // Refused: stop sending this stroke (each further batch would be refused too) until the next one.
        if (drawing) { clearInterval(flushing); drawing = null; unsent = []; }
      }
      if (note) note.textContent = message.detail;
    } else {
      // This tab's stroke undone or cleared while being drawn: stop sending it (the server forgot it).
      const gone = message.type === "board.cleared" || (message.type === "stroke.undone" && drawing && drawing.sequence === message.sequence);
      if (drawing && gone) { clearInterval(flushing); drawing = null; unsent = []; }
      shared.apply(message);
      drawn();
    }
  }

  // Outside the window or over HTTP: the board as saved, read over HTTP.
  let loading = null;
  function loadSaved() {
    if (loading) return loading;
    loading = window.WhiteboardBoard.load(shared, board.dataset.strokesUrl)
      .then(() => { board.dataset.replayed = String(shared.size); drawn(); })
      .catch(() => {})
      .finally(() => { loading = null; });
    return loading;
  }

  board.addEventListener("change", (event) => {
    if (event.target.name === "pen") colour = event.target.value;
    if (event.target.name === "tool") tool = event.target.value;
    if (event.target.name === "width") width = Number(event.target.value);
  });
  document.getElementById("board-undo").addEventListener("click", () => send({ type: "undo" }));
  const clearButton = document.getElementById("board-clear"); // only on the tutor's page
  if (clearButton) clearButton.addEventListener("click", () => send({ type: "clear" }));
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "z" && live) { event.preventDefault(); send({ type: "undo" }); }
  });

  setLive(false);
  if (!tracker) loadSaved();
  boardHooks = {
    welcome() { setLive(true); send({ type: "replay" }); },
    message: onBoardMessage,
    status(state, detail) {
      const on = detail.transport === "websocket" && (state === "connected" || state === "hidden");
      if (!on) { endStroke(); setLive(false); }
      if (!on && detail.transport === "http" && (state === "connected" || state === "hidden")) loadSaved();
    },
  };
})();
