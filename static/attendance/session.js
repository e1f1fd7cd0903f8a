// Session page: refresh both participants' live connection status every few seconds, without reloading.
(function () {
  "use strict";
  const panel = document.getElementById("live-status");
  if (!panel) return;
  const updated = document.getElementById("live-updated");
  const INTERVAL_MS = 4000;

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    const minutes = Math.round(seconds / 60);
    const h = Math.floor(minutes / 60), m = minutes % 60;
    return h ? h + " h " + String(m).padStart(2, "0") + " min" : m + " min";
  }

  // The server's time of the answer, on the 24-hour clock every page uses, in the viewer's zone.
  const CLOCK = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    timeZone: panel.dataset.timeZone || undefined,
  });
  function clock(iso) { return CLOCK.format(new Date(iso)); }

  function render(status) {
    for (const role of ["tutor", "student"]) {
      const row = panel.querySelector('[data-role="' + role + '"]');
      const p = status[role];
      const badge = row.querySelector(".badge");
      const hidden = p.connected && p.visibility === "hidden";
      badge.dataset.connected = String(p.connected);
      badge.dataset.visibility = p.visibility || "";
      badge.classList.toggle("badge--ok", p.connected && !hidden);
      badge.classList.toggle("badge--warn", hidden);
      badge.classList.toggle("badge--neutral", !p.connected);
      // A background tab is still presence (counted as hidden time), but the tutor should know.
      row.querySelector(".js-state").textContent = !p.connected ? "Not connected" : hidden ? "Connected · tab hidden" : "Connected";
      row.querySelector(".js-active").textContent = duration(p.total_active_seconds);
      row.querySelector(".js-reconnects").textContent = p.reconnects;
      row.querySelector(".js-hidden").textContent = duration(p.hidden_seconds);
    }
    if (updated) updated.textContent = "live · updated " + clock(status.server_time);
  }

  async function poll() {
    try {
      const response = await fetch(panel.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) render(await response.json());
      else if (updated) updated.textContent = "live status unavailable (" + response.status + ")";
    } catch (error) {
      if (updated) updated.textContent = "offline: retrying";
    }
  }

  poll();
  setInterval(poll, INTERVAL_MS);
})();
