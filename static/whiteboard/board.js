/**
 * board.js: the shared board's strokes, kept in memory and drawn on a canvas. No dependencies.
 *
 * Used by the whiteboard page (live, over the presence socket) and the read-only view (HTTP pages).
 * Coordinates are board units: the board is 1000 units across, y on the same scale, so a stroke keeps
 * its shape on every screen. Points are flat lists [x0, y0, x1, y1, ...]. The eraser rubs out (the
 * canvas is transparent over the page's paper), so replaying in sequence order gives the same picture.
 *
 *   const board = WhiteboardBoard.create(canvas);
 *   board.replay(page)          // a board.replay message or an HTTP page ({strokes, after, ...})
 *   board.apply(message)        // stroke.begin / stroke.points / stroke.end / stroke.undone / board.cleared
 *   board.toBoard(x, y)         // CSS pixels on the canvas -> board units
 */
(function (global) {
  "use strict";

  const BOARD_WIDTH = 1000;

  function create(canvas) {
    const ctx = canvas.getContext("2d");
    const strokes = new Map();   // sequence -> stroke ({sequence, tool, colour, width, points})
    let order = [];              // sequences in replay order
    const local = new Set();     // this tab's strokes not yet numbered by the server
    let scale = 1;               // CSS pixels per board unit
    let clearedThrough = 0;

    function fit() {
      const ratio = global.devicePixelRatio || 1;
      const { width, height } = canvas.getBoundingClientRect();
      if (!width || !height) return;
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      scale = width / BOARD_WIDTH;
      ctx.setTransform(ratio * scale, 0, 0, ratio * scale, 0, 0);
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      redraw();
    }

    /** Draw `stroke`'s segments from point `from` (an index into its flat list) on. */
    function draw(stroke, from) {
      const p = stroke.points;
      if (p.length < 2) return;
      ctx.globalCompositeOperation = stroke.tool === "eraser" ? "destination-out" : "source-over";
      ctx.strokeStyle = ctx.fillStyle = stroke.colour;
      ctx.lineWidth = stroke.width;
      if (p.length === 2) {       // a dot
        ctx.beginPath();
        ctx.arc(p[0], p[1], stroke.width / 2, 0, 2 * Math.PI);
        ctx.fill();
        return;
      }
      const start = Math.max(0, (from || 0) - 2);
      ctx.beginPath();
      ctx.moveTo(p[start], p[start + 1]);
      for (let i = start + 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
      ctx.stroke();
    }

    function redraw() {
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      ctx.restore();
      for (const sequence of order) draw(strokes.get(sequence), 0);
      for (const stroke of local) draw(stroke, 0);
      ctx.globalCompositeOperation = "source-over";
    }

    function add(stroke) {
      if (strokes.has(stroke.sequence) || stroke.sequence <= clearedThrough) return false;
      strokes.set(stroke.sequence, stroke);
      if (order.length && order[order.length - 1] > stroke.sequence) {
        order.push(stroke.sequence);
        order.sort((a, b) => a - b);
        return "redraw";
      }
      order.push(stroke.sequence);
      return true;
    }

    function remove(sequence) {
      if (!strokes.delete(sequence)) return;
      order = order.filter((s) => s !== sequence);
      redraw();
    }

    const board = {
      get size() { return strokes.size + local.size; },
      get lastSequence() { return order.length ? order[order.length - 1] : 0; },
      fit,
      redraw,
      toBoard(x, y) {
        const round = (v) => Math.max(0, Math.round((v / scale) * 10) / 10);
        return [round(x), round(y)];
      },
      /** Forget everything (a fresh replay follows). */
      reset() {
        strokes.clear();
        order = [];
        clearedThrough = 0;
        redraw();
      },
      /** One page of the board: drawn as it arrives, so the first page paints before the last is read. */
      replay(page) {
        if (!page.after) board.reset();
        clearedThrough = Math.max(clearedThrough, page.cleared_through || 0);
        let again = false;
        for (const s of page.strokes) {
          const added = add({ sequence: s.sequence, tool: s.tool, colour: s.colour, width: s.width, points: s.points.slice(), role: s.role });
          if (added === "redraw") again = true;
          else if (added) draw(strokes.get(s.sequence), 0);
        }
        if (again) redraw();
        ctx.globalCompositeOperation = "source-over";
      },
      /** A live event from the server. */
      apply(message) {
        if (message.type === "stroke.begin") {
          const stroke = {
            sequence: message.sequence, tool: message.tool, colour: message.colour,
            width: message.width, points: message.points.slice(), role: message.role,
          };
          const added = add(stroke);
          if (added === "redraw") redraw();
          else if (added) draw(stroke, 0);
        } else if (message.type === "stroke.points" || message.type === "stroke.end") {
          const stroke = strokes.get(message.sequence);
          if (!stroke) return;
          // `offset` is where these points start in the stroke. Already had them (from a replay): skip
          // them. A replay can also lag up to a second behind a stroke being drawn (the server writes
          // its points about once a second): then the line bridges the gap.
          const skip = Math.max(0, stroke.points.length - message.offset);
          if (skip >= message.points.length) return;
          const from = stroke.points.length;
          for (let i = skip; i < message.points.length; i += 1) stroke.points.push(message.points[i]);
          if (from === 0) draw(stroke, 0); else draw(stroke, from);
        } else if (message.type === "stroke.undone") {
          remove(message.sequence);
        } else if (message.type === "board.cleared") {
          clearedThrough = Math.max(clearedThrough, message.sequence);
          for (const sequence of order) if (sequence < message.sequence) strokes.delete(sequence);
          order = order.filter((s) => s > message.sequence);
          redraw();
        }
        ctx.globalCompositeOperation = "source-over";
      },
      // ---- this tab's own strokes ----
      begin(stroke) { local.add(stroke); draw(stroke, 0); ctx.globalCompositeOperation = "source-over"; },
      extend(stroke, from) { draw(stroke, from); ctx.globalCompositeOperation = "source-over"; },
      /** The server numbered a stroke of this tab: it takes its place in the order. */
      numbered(stroke, sequence) {
        local.delete(stroke);
        stroke.sequence = sequence;
        if (add(stroke) === "redraw") redraw();
      },
      /** A stroke of this tab the server refused (or never numbered): rub it out. */
      drop(stroke) {
        local.delete(stroke);
        if (stroke.sequence) { strokes.delete(stroke.sequence); order = order.filter((s) => s !== stroke.sequence); }
        redraw();
      },
    };
    fit();
    new ResizeObserver(fit).observe(canvas);
    return board;
  }

  /** Read a whole board over HTTP, page by page, drawing each as it comes (the read-only view). */
  async function load(board, url) {
    let after = 0;
    for (;;) {
      const response = await fetch(`${url}?after=${after}`, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`board: HTTP ${response.status}`);
      const page = await response.json();
      board.replay(Object.assign({ after }, page));
      if (page.next_after == null) return page;
      after = page.next_after;
    }
  }

  global.WhiteboardBoard = { create, load, BOARD_WIDTH };
})(typeof window !== "undefined" ? window : globalThis);
