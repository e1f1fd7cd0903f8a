// Live pages: the session page, the tutor's dashboard and the student's page update themselves.
// They watch their sessions over the `ws/live/` socket (attendance/live.py lists the messages) and
// replace the parts the server re-rendered; while the socket is down they poll the same messages
// from GET /live/fragments every few seconds, and say so.
(function () {
  "use strict";
  const root = document.querySelector("[data-live-view]");
  if (!root || typeof window.fetch !== "function") return;
  const view = root.dataset.liveView; // "session" | "cards"
  const status = document.querySelector("[data-live-status]");
  const POLL_MS = 5000;
  const MAX_BACKOFF_MS = 30000;
  let polling = null;
  let failures = 0;

  function watchedIds() {
    if (view === "session") return [Number(root.dataset.liveSession)];
    return Array.from(document.querySelectorAll('[data-testid="session-card"][data-session-id]'), (el) =>
      Number(el.dataset.sessionId));
  }
  const ids = Array.from(new Set(watchedIds())).slice(0, 200);
  if (!ids.length) return;

  function say(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  // A server time on the 24-hour clock, in the viewer's zone (the page names it), like every time the app shows.
  function clock(iso) {
    const zoned = document.querySelector("[data-time-zone]");
    return new Date(iso).toLocaleTimeString("en-GB", {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      timeZone: (zoned && zoned.dataset.timeZone) || undefined,
    });
  }

  const lastHtml = new Map(); // fragment name -> the HTML the server last sent for it

  function apply(message) {
    if (message.type === "session") {
      for (const [name, html] of Object.entries(message.fragments)) {
        // Compared with what the server sent last, not with innerHTML (the browser re-serialises it, so
        // that would always differ): an unchanged part is left alone, its elements and focus kept.
        const part = document.querySelector(`[data-live-fragment="${name}"]`);
        if (part && lastHtml.get(name) !== html) {
          part.innerHTML = html;
          lastHtml.set(name, html);
        }
      }
      const current = document.querySelector('[data-live-fragment="current"]');
      if (current) current.classList.toggle("is-assumed", message.data.assumed);
    } else if (message.type === "card") {
      for (const card of document.querySelectorAll(`[data-testid="session-card"][data-session-id="${message.session_id}"]`)) {
        const holder = document.createElement("template");
        holder.innerHTML = message.html.trim();
        card.replaceWith(holder.content.firstElementChild);
      }
    }
  }

  async function poll() {
    try {
      const url = `${root.dataset.liveFallback}?view=${view}&sessions=${ids.join(",")}`;
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return say("polling", `no live connection; could not refresh (${response.status})`);
      const body = await response.json();
      body.messages.forEach(apply);
      say("polling", `no live connection: refreshing every ${POLL_MS / 1000} s · ${clock(body.server_time)}`);
    } catch (error) {
      say("offline", "offline: retrying");
    }
  }

  function startPolling() {
    if (polling) return;
    poll();
    polling = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (polling) clearInterval(polling);
    polling = null;
  }

  function open() {
    let socket;
    try {
      socket = new WebSocket(`${location.origin.replace(/^http/, "ws")}/ws/live/`);
    } catch (error) {
      return startPolling();
    }
    socket.onopen = () => socket.send(JSON.stringify({ type: "watch", view, sessions: ids }));
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "error") return;
      failures = 0;
      stopPolling();
      say("live", "live");
      apply(message);
    };
    socket.onclose = (event) => {
      if (event.code === 4401 || event.code === 4404) {
        stopPolling();
        return say("off", "live updates stopped: reload the page");
      }
      startPolling(); // meanwhile, and for good if the socket never comes back
      failures += 1;
      const ceiling = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** failures);
      setTimeout(open, ceiling / 2 + Math.random() * (ceiling / 2));
    };
  }

  say("connecting", "connecting…");
  if (typeof window.WebSocket === "function") open();
  else startPolling();
  window.addEventListener("pagehide", stopPolling);
})();
