// The whiteboard page: runs the attendance tracker, shows who is here, and a local drawing canvas.
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
    onStatus(state, detail) {
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

  // ---- Drawing (local only) ----
  const canvas = document.getElementById("board-canvas");
  const ctx = canvas.getContext("2d");
  let colour = board.querySelector("input[name=pen]:checked").value;
  let last = null;

  function fit() {
    // Keep the drawing when the canvas is resized; draw at device pixels for crisp lines.
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = canvas.getBoundingClientRect();
    if (!width || !height) return;
    const copy = document.createElement("canvas");
    copy.width = canvas.width;
    copy.height = canvas.height;
    copy.getContext("2d").drawImage(canvas, 0, 0);
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    ctx.drawImage(copy, 0, 0);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = 3;
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }

  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    board.classList.add("board--drawn");
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    ctx.strokeStyle = colour;
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(next.x, next.y);
    ctx.stroke();
    last = next;
  });
  for (const type of ["pointerup", "pointercancel"]) canvas.addEventListener(type, () => { last = null; });

  board.addEventListener("change", (event) => {
    if (event.target.name === "pen") colour = event.target.value;
  });
  document.getElementById("board-clear").addEventListener("click", () => {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.restore();
    board.classList.remove("board--drawn");
  });

  fit();
  new ResizeObserver(fit).observe(canvas);
})();
