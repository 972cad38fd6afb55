// Sluice pages: live stage statuses, the DAG's hover, and the windowed log view.
// Hand-written, no build step; htmx (vendor/) refreshes the fragments.
"use strict";
(function () {
  const $ = (s, r) => (r || document).querySelector(s);
  const $$ = (s, r) => Array.from((r || document).querySelectorAll(s));
  const esc = (t) => t.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const TERMINAL = ["success", "failed", "cancelled"];

  // ---- DAG: hovering a node lights its ancestors and descendants
  function dag() {
    const svg = $("#dag");
    if (!svg) return;
    const nodes = $$(".node", svg), up = {}, down = {};
    nodes.forEach((n) => { up[n.dataset.node] = n.dataset.needs ? n.dataset.needs.split("\n") : []; down[n.dataset.node] = []; });
    Object.keys(up).forEach((k) => up[k].forEach((m) => down[m] && down[m].push(k)));
    const walk = (start, next) => {
      const seen = new Set([start]), todo = [start];
      while (todo.length) (next[todo.pop()] || []).forEach((m) => { if (!seen.has(m)) { seen.add(m); todo.push(m); } });
      return seen;
    };
    nodes.forEach((n) => {
      n.addEventListener("mouseenter", () => {
        const lit = new Set([...walk(n.dataset.node, up), ...walk(n.dataset.node, down)]);
        svg.classList.add("hovering");
        nodes.forEach((m) => m.classList.toggle("lit", lit.has(m.dataset.node)));
        $$(".edge", svg).forEach((e) => e.classList.toggle("lit", lit.has(e.dataset.from) && lit.has(e.dataset.to)));
      });
      n.addEventListener("mouseleave", () => svg.classList.remove("hovering"));
    });
  }

  // ---- live statuses: the page asks the read model every 500 ms (see README: why polling)
  function live() {
    const run = $("#run");
    if (!run) return;
    let last = "", historyAt = 0;
    const setStatus = (el, status) => el.className = el.className.replace(/\bs-[a-z]+/, "s-" + status);
    async function tick() {
      try {
        const r = await fetch(run.dataset.base + "/state", { credentials: "same-origin" });
        if (r.ok) {
          const state = await r.json(), times = state.times; delete state.times;
          const text = JSON.stringify(state);
          clock(times);
          if (text !== last) { apply(state); if (last && Date.now() - historyAt > 2000) { historyAt = Date.now(); window.htmx && htmx.trigger("#history", "refresh"); } last = text; }
        }
      } catch (e) { /* the API restarts: try again next tick */ }
      setTimeout(tick, TERMINAL.includes(run.dataset.status) ? 2000 : 500);
    }
    function clock(times) {  // total, queue, waited and ran grow while the run goes on
      if (!times) return;
      $("#run-total").textContent = times.total; $("#run-queue").textContent = times.queue;
      $$("tr.stage").forEach((row) => {
        const t = times.stages[row.dataset.stage];
        if (t) { $(".waited", row).textContent = t[0]; $(".ran", row).textContent = t[1]; }
      });
    }
    function apply(state) {
      run.dataset.status = state.status;
      const badge = $("#run-status");
      badge.textContent = state.status; setStatus(badge, state.status);
      $$("tr.stage").forEach((row) => {
        const s = state.stages[row.dataset.stage];
        if (!s) return;
        if (row.dataset.status === s[0] && $(".attempt", row).textContent === String(s[1])) return;
        row.dataset.status = s[0];
        const b = $(".status", row); b.textContent = s[0]; setStatus(b, s[0]);
        $(".attempt", row).textContent = s[1];
      });
      $$("#dag .node").forEach((n) => {
        const s = state.nodes[n.dataset.node];
        if (!s) return;
        n.setAttribute("class", n.getAttribute("class").replace(/\bs-[a-z]+/, "s-" + s[0]));
        $(".sub", n).textContent = n.classList.contains("group") ? s[1] : s[0];
      });
      const view = $("#log-view");
      const s = view && state.stages[view.dataset.stage];
      if (s && s[0] === "running" && String(s[1]) !== view.dataset.attempt) {
        view.dataset.attempt = s[1]; log.restart();  // a new attempt: follow its log live
      }
    }
    setTimeout(tick, 500);
  }

  // ---- the log: only the lines on screen are in the DOM; ranges are fetched on scroll
  const LH = 18, BLOCK = 500, KEEP = 40, WINDOW_PAD = 30;
  const ANSI = /\x1b\[([0-9;]*)m/g;
  function ansi(text) {
    let out = "", open = false, at = 0, m;
    text = text.replace(/\x1b\[[0-9;?]*[A-Za-ln-z]/g, "");
    ANSI.lastIndex = 0;
    while ((m = ANSI.exec(text))) {
      out += esc(text.slice(at, m.index)); at = ANSI.lastIndex;
      const cls = (m[1] || "0").split(";").filter((c) => c !== "0" && c !== "").map((c) => "a" + c);
      if (open) { out += "</span>"; open = false; }
      if (cls.length) { out += '<span class="' + cls.join(" ") + '">'; open = true; }
    }
    return out + esc(text.slice(at)) + (open ? "</span>" : "");
  }
  const log = {
    view: null, total: 0, blocks: new Map(), wanted: new Set(), live: null, pending: "",
    es: null, lastId: "", mark: 0, matches: [], at: -1, follow: true,
    init() {
      this.view = $("#log-view");
      if (!this.view) return;
      this.run = this.view.dataset.run; this.stage = this.view.dataset.stage;
      this.url = "/ui/runs/" + encodeURIComponent(this.run) + "/logs/";
      this.q = "stage=" + encodeURIComponent(this.stage);
      this.view.addEventListener("scroll", () => { this.follow = this.atBottom(); this.render(); });
      $("#log-search").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); this.search(e.target.value); } });
      $("#log-next").addEventListener("click", () => this.next());
      window.addEventListener("hashchange", () => this.hash());
      if (this.view.dataset.live === "true") this.stream(); else this.fetchBlock(0);
    },
    restart() {
      if (this.view.dataset.live === "true" && this.es) return;
      this.view.dataset.live = "true"; this.blocks.clear(); this.total = 0;
      this.live = []; this.pending = ""; this.lastId = ""; this.stream();
    },
    atBottom() { const v = this.view; return v.scrollTop + v.clientHeight >= v.scrollHeight - LH * 2; },
    stream() {
      if (this.es) this.es.close();
      if (!this.live) this.live = [];
      const extra = this.lastId ? "&last_event_id=" + encodeURIComponent(this.lastId) : "";
      const es = this.es = new EventSource(this.url + "stream?" + this.q + extra);
      $("#log-state").textContent = "live";
      const take = (e) => { this.lastId = e.lastEventId || this.lastId; this.add(e.data); };
      ["stdout", "stderr", "system", "message"].forEach((t) => es.addEventListener(t, take));
      es.addEventListener("end", () => { es.close(); this.es = null; this.flush(); $("#log-state").textContent = "finished"; });
      es.onerror = () => {
        $("#log-state").textContent = "reconnecting…";
        if (es.readyState === EventSource.CLOSED && this.es === es) setTimeout(() => this.es === es && this.stream(), 1000);
      };
      es.onopen = () => { $("#log-state").textContent = "live"; };
    },
    add(data) {
      const parts = (this.pending + data).split("\n");
      this.pending = parts.pop();
      for (const p of parts) this.live.push(p);
      this.total = this.live.length + (this.pending ? 1 : 0);
      this.render();
      if (this.follow) this.view.scrollTop = this.view.scrollHeight;
    },
    flush() { if (this.pending) { this.live.push(this.pending); this.pending = ""; } this.total = this.live.length; this.render(); },
    line(i) {
      if (this.live) return i < this.live.length ? this.live[i] : (i === this.live.length ? this.pending : null);
      const b = this.blocks.get(Math.floor(i / BLOCK));
      return b ? b[i % BLOCK] : null;
    },
    async fetchBlock(n) {
      if (this.wanted.has(n)) return;
      this.wanted.add(n);
      try {
        const r = await fetch(this.url + "lines?" + this.q + "&start=" + n * BLOCK + "&count=" + BLOCK);
        if (!r.ok) return;
        const body = await r.json();
        this.blocks.set(n, body.lines); this.total = body.total;
        $("#log-state").textContent = body.total.toLocaleString() + " lines";
        this.evict(n);
        if (this.first === undefined) { this.first = true; this.hash(); }
        this.render();
      } finally { this.wanted.delete(n); }
    },
    evict(near) {
      if (this.blocks.size <= KEEP) return;
      const far = [...this.blocks.keys()].sort((a, b) => Math.abs(b - near) - Math.abs(a - near));
      far.slice(0, this.blocks.size - KEEP).forEach((k) => this.blocks.delete(k));
    },
    render() {
      const v = this.view;
      $("#log-spacer").style.height = this.total * LH + "px";
      v.style.height = Math.max(6 * LH, Math.min(this.total * LH + 24, innerHeight * 0.6)) + "px";
      const first = Math.max(0, Math.floor(v.scrollTop / LH) - WINDOW_PAD);
      const last = Math.min(this.total, Math.ceil((v.scrollTop + v.clientHeight) / LH) + WINDOW_PAD);
      let html = "";
      for (let i = first; i < last; i++) {
        const t = this.line(i);
        if (t === null && !this.live) this.fetchBlock(Math.floor(i / BLOCK));
        const n = i + 1, cls = n === this.mark ? " mark" : (this.matches[this.at] === n ? " hit" : "");
        html += '<div class="ln' + cls + '" id="L' + n + '"><a class="no" href="#L' + n + '">' + n + "</a>" + (t === null ? "" : ansi(t)) + "</div>";
      }
      const box = $("#log-lines");
      box.style.top = first * LH + "px";
      box.innerHTML = html;
    },
    goto(n) {
      this.follow = false;
      $("#log-spacer").style.height = this.total * LH + "px";  // room to scroll to first
      this.view.scrollTop = Math.max(0, (n - 1) * LH - this.view.clientHeight / 3);
      this.render();
    },
    hash() {
      const m = /^#L(\d+)$/.exec(location.hash);
      if (!m) return;
      this.mark = +m[1];
      $("#log").scrollIntoView();
      this.goto(this.mark);
    },
    async search(q) {
      if (!q) return;
      const r = await fetch(this.url + "search?" + this.q + "&q=" + encodeURIComponent(q));
      if (!r.ok) return;
      const body = await r.json();
      this.matches = body.matches; this.at = -1;
      $("#log-found").textContent = body.total + " found";
      this.next();
    },
    next() {
      if (!this.matches.length) return;
      this.at = (this.at + 1) % this.matches.length;
      $("#log-found").textContent = (this.at + 1) + " of " + this.matches.length + (this.matches.length < 1000 ? "" : "+");
      this.goto(this.matches[this.at]);
    },
  };
  window.sluiceLog = log;

  document.addEventListener("DOMContentLoaded", () => { dag(); live(); log.init(); });
})();
