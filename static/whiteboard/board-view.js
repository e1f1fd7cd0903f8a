// The board, read-only (staff and participants): read over HTTP, page by page; never a presence socket.
(function () {
  "use strict";
  const view = document.getElementById("board-view");
  if (!view) return;
  const shared = window.WhiteboardBoard.create(document.getElementById("board-canvas"));
  window.whiteboardBoard = shared; // for the console and for tests
  const count = document.getElementById("board-count");

  async function load() {
    count.textContent = "Loading…";
    try {
      await window.WhiteboardBoard.load(shared, view.dataset.strokesUrl);
      view.dataset.replayed = String(shared.size);
      count.textContent = `${shared.size} stroke${shared.size === 1 ? "" : "s"} on the board`;
    } catch (e) {
      count.textContent = "Could not load the board; try Refresh.";
    }
  }
  document.getElementById("board-refresh").addEventListener("click", load);
  load();
})();
