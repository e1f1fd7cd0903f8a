// Settings page: offer the browser's own time zone when it is one of the choices.
(function () {
  "use strict";
  const button = document.querySelector("[data-detect-zone]");
  const select = document.getElementById("id_time_zone");
  let zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* very old browser */ }
  if (!button || !select || !zone || zone === button.dataset.currentZone) return;
  if (![...select.options].some((option) => option.value === zone)) return;
  button.textContent = `Use this device's zone (${zone})`;
  button.hidden = false;
  button.addEventListener("click", () => {
    select.value = zone;
    select.focus();
    button.hidden = true;
  });
})();
