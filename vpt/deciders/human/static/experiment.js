/* vpt human experiment: a jsPsych 8 timeline built from the server's state.
 *
 * The server owns the protocol: it draws each participant's trial order from their seed,
 * stores every answer when it is made (the page waits for the commit before the next trial)
 * and tells a reloaded page where to resume. This script shows consent, instructions,
 * a tutorial (the viewing cone and labelled examples), the warm-up with feedback and the test
 * trials (keys F/J or the buttons) under jsPsych's progress bar, breaks, and the completion code.
 * The picture is shown at its rendered CSS size, scaled down only as far as needed for the
 * question and both buttons to fit the window without scrolling (never below a minimum: a
 * window too small for that gets a message). Attention checks look like any test trial: the
 * page does not know which trials they are.
 */
"use strict";

const TOKEN_KEY = "vpt-human-token:" + location.host;
let TOKEN = localStorage.getItem(TOKEN_KEY);

function randomKey() {
  const a = new Uint8Array(16);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

function setStatus(text) {
  const el = document.getElementById("vpt-status");
  if (el) el.textContent = text;
}

/* POST or GET with retries on network errors and 5xx; returns {status, body}. */
async function api(path, body, method = "POST") {
  let wait = 300;
  for (let attempt = 0; ; attempt++) {
    try {
      const headers = { "Content-Type": "application/json" };
      if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
      const r = await fetch(path, { method, headers, body: method === "GET" ? undefined : JSON.stringify(body || {}),
                                    cache: "no-store" });
      const json = await r.json().catch(() => ({}));
      if (r.status < 500) return { status: r.status, body: json };
    } catch (e) { /* the server is restarting or the network dropped: retry */ }
    if (attempt >= 60) return { status: 0, body: { error: "the server cannot be reached" } };
    setStatus("Saving... (waiting for the server)");
    await new Promise((res) => setTimeout(res, wait));
    wait = Math.min(wait * 2, 3000);
  }
}

/* Where answers go. The server backend (vpt human serve) commits each answer to SQLite; the
 * static backend (vpt human static, on JATOS or any web host) keeps the state in local
 * storage and appends each answer to the platform's result data (jatos.appendResultData)
 * or, without a platform, offers the results as a file at the end. Same protocol, same plans. */
const serverBackend = {
  async session(q) {
    let r = TOKEN ? await api("/api/session", {}) : { status: 401 };
    if (r.status === 401) {
      TOKEN = null;
      localStorage.removeItem(TOKEN_KEY);
      r = await api("/api/session", { prolific_pid: q.get("PROLIFIC_PID") || null, study_id: q.get("STUDY_ID") || null,
                                      session_id: q.get("SESSION_ID") || null });
    }
    if (r.status === 200 && r.body.token) { TOKEN = r.body.token; localStorage.setItem(TOKEN_KEY, TOKEN); }
    return r;
  },
  event(kind, info) { return api("/api/event", { kind, ...info }); },
  respond(body) { return api("/api/response", body); },
  finish() { return api("/api/finish", {}); },
};

const BACKEND = window.VPT_STATIC ? window.vptStaticBackend(window.VPT_STATIC) : serverBackend;

function windowInfo() {
  return { window_w: window.innerWidth, window_h: window.innerHeight, dpr: window.devicePixelRatio || 1 };
}

/* What is on screen, for people reading the DOM (and the browser test): data-screen names it,
 * data-seq counts every screen shown since the page loaded. */
let SEQ = 0;
function shown(screen) {
  document.body.dataset.screen = screen;
  document.body.dataset.seq = String(++SEQ);
}

function message(html, screen = "message") {
  document.body.innerHTML = `<div class="vpt-page"><div class="vpt-message vpt-card">${html}</div></div>`;
  shown(screen);
}

/* A participant whose Prolific id started before (their browser lost its storage, or another
 * browser): what happened, what to do, and a reference for the researcher's `vpt human unlock`. */
function lockedOut(reference) {
  message(`<h2>You have already started this study</h2>
    <p>This browser does not hold your progress (another browser was used, or its stored data were cleared).
    Your answers so far are safe.</p>
    <p>Please send the researcher a message (on Prolific) with this reference:</p>
    <p class="vpt-code" id="vpt-reference">${reference}</p>
    <p>Once the researcher has unlocked it, reload this page: you continue where you stopped.</p>
    <p><button class="jspsych-btn" id="vpt-retry">Reload</button></p>`, "locked");
  document.getElementById("vpt-retry").addEventListener("click", () => location.reload());
}

/* The progress bar (jsPsych's own) shows how far the participant is in their whole plan. */
const PROGRESS = { idx: 0, n: 1 };
function progressText() { return `Picture ${Math.min(PROGRESS.idx + 1, PROGRESS.n)} of ${PROGRESS.n}`; }

const { ParameterType } = jsPsychModule;

/* A screen of text continued with the space bar or a button. */
class VptScreenPlugin {
  static info = { name: "vpt-screen", version: "1.0.0", parameters: {
    html: { type: ParameterType.HTML_STRING, default: "" },
    button: { type: ParameterType.STRING, default: "Continue" },
    screen: { type: ParameterType.STRING, default: "screen" } }, data: {} };
  constructor(jsPsych) { this.jsPsych = jsPsych; }
  trial(el, trial) {
    el.innerHTML = `<div class="vpt-message">${trial.html}</div>
      <p><button class="jspsych-btn" id="vpt-continue">${trial.button}</button>
      <span class="vpt-status">(or press the space bar)</span></p>`;
    shown(trial.screen);
    return new Promise((resolve) => {
      let listener = null;
      const done = () => { if (listener) this.jsPsych.pluginAPI.cancelKeyboardResponse(listener); resolve({}); };
      el.querySelector("#vpt-continue").addEventListener("click", done);
      listener = this.jsPsych.pluginAPI.getKeyboardResponse({ callback_function: done, valid_responses: [" "],
                                                              persist: false, allow_held_key: false });
    });
  }
}

/* One trial: question, stimulus at a fixed CSS size, two answers (F/J keys or buttons). The
 * answer is committed to the server before the trial ends; warm-up trials show feedback. */
class VptChoicePlugin {
  static info = { name: "vpt-choice", version: "1.0.0", parameters: {
    idx: { type: ParameterType.INT, default: 0 },
    n: { type: ParameterType.INT, default: 1 },
    block: { type: ParameterType.STRING, default: "test" },
    src: { type: ParameterType.STRING, default: "" },
    question: { type: ParameterType.STRING, default: "" },
    choices: { type: ParameterType.COMPLEX, default: [] },
    cfg: { type: ParameterType.COMPLEX, default: {} } }, data: {} };
  constructor(jsPsych) { this.jsPsych = jsPsych; }

  /* Lay the trial out with the picture as large as fits (at most its rendered CSS size): the
   * question, the framed picture and both buttons all visible without scrolling. Returns the
   * picture's CSS width, or 0 when even the minimum size does not fit. */
  fit(el, cfg) {
    const img = el.querySelector("#vpt-stim"), trial = el.querySelector("#vpt-trial");
    img.style.width = "0px"; img.style.height = "0px";
    const bar = document.getElementById("jspsych-progressbar-container");
    const rest = trial.getBoundingClientRect().height + (bar ? bar.getBoundingClientRect().height : 0) + 24;
    const scale = Math.min(1, (window.innerHeight - rest) / cfg.stimulus_h,
                           (Math.min(window.innerWidth, document.documentElement.clientWidth) * 0.95 - 40) / cfg.stimulus_w);
    const w = Math.floor(cfg.stimulus_w * scale), h = Math.floor(cfg.stimulus_h * scale);
    if (w < cfg.min_stimulus_w) return { w: 0, need_w: cfg.min_stimulus_w + 60, need_h: Math.ceil(rest + cfg.min_stimulus_h) };
    img.style.width = w + "px"; img.style.height = h + "px";
    return { w };
  }

  async layout(el, t, cfg) {
    const buttons = t.choices.map((c) => `<button class="jspsych-btn vpt-choice" data-value="${c.value}">
      <span class="vpt-key">${c.key.toUpperCase()}</span>${c.text}</button>`).join("");
    let small = false;
    for (;;) {
      el.innerHTML = `<div id="vpt-trial" data-idx="${t.idx}" data-block="${t.block}">
        <p class="vpt-question">${t.question}</p>
        <div class="vpt-stimulus-box"><div class="vpt-frame"><img class="vpt-stimulus" id="vpt-stim" alt=""
          draggable="false" src="${t.src}" width="${cfg.stimulus_w}" height="${cfg.stimulus_h}"></div></div>
        <div class="vpt-buttons">${buttons}</div>
        <div class="vpt-feedback" id="vpt-feedback"></div><div class="vpt-status" id="vpt-status"></div></div>`;
      const got = this.fit(el, cfg);
      if (got.w) { if (small) BACKEND.event("window_ok", windowInfo()); return; }
      if (!small) { small = true; BACKEND.event("window_too_small", windowInfo()); }
      el.innerHTML = `<div class="vpt-message" id="vpt-too-small"><p>Your browser window is too small to show the
        picture with the question and the buttons (it needs about ${got.need_w} x ${got.need_h} pixels; now
        ${window.innerWidth} x ${window.innerHeight}).</p><p>Please maximise or enlarge the window, or zoom out with
        Ctrl and minus (Cmd and minus on a Mac). The study continues by itself.</p></div>`;
      shown("too-small");
      await new Promise((res) => window.addEventListener("resize", res, { once: true }));
    }
  }

  async trial(el, t) {
    const cfg = t.cfg;
    PROGRESS.idx = t.idx; PROGRESS.n = t.n;
    if (this.jsPsych.progressBar) this.jsPsych.progressBar.progress = t.idx / t.n;
    await this.layout(el, t, cfg);
    const img = el.querySelector("#vpt-stim");
    try { await img.decode(); } catch (e) { /* shown anyway; the load error is in the console */ }
    await new Promise((res) => requestAnimationFrame(() => res()));
    const refit = () => this.fit(el, { ...cfg, min_stimulus_w: 0 });  // a resize mid-trial: fit again
    window.addEventListener("resize", refit);
    const t0 = performance.now();
    shown("trial");
    const answer = await new Promise((resolve) => {
      let finished = false, keyListener = null;
      const timers = [];
      const respond = (value, input) => {
        if (finished) return;
        finished = true;
        timers.forEach((h) => clearTimeout(h));
        if (keyListener) this.jsPsych.pluginAPI.cancelKeyboardResponse(keyListener);
        el.querySelectorAll("button.vpt-choice").forEach((b) => { b.disabled = true; });
        resolve({ response: value, input, rt_ms: value === null ? null : performance.now() - t0 });
      };
      // the input method: keyboard (F/J, or Enter on a focused button), mouse, touch or pen
      let pointer = null;
      el.querySelectorAll("button.vpt-choice").forEach((b) => {
        b.addEventListener("pointerdown", (e) => { pointer = e.pointerType || "mouse"; });
        b.addEventListener("click", (e) => respond(Number(b.dataset.value), e.detail === 0 ? "keyboard" : pointer || "mouse"));
      });
      const byKey = Object.fromEntries(t.choices.map((c) => [c.key, c.value]));
      keyListener = this.jsPsych.pluginAPI.getKeyboardResponse({
        callback_function: (info) => respond(byKey[info.key], "keyboard"),
        valid_responses: Object.keys(byKey), persist: false, allow_held_key: false });
      if (cfg.presentation_ms > 0)
        timers.push(setTimeout(() => { img.style.visibility = "hidden"; }, cfg.presentation_ms));
      if (cfg.deadline_ms > 0) timers.push(setTimeout(() => respond(null, null), cfg.deadline_ms));
    });
    const body = { idx: t.idx, request_key: randomKey(), response: answer.response, rt_ms: answer.rt_ms,
                   timed_out: answer.response === null, input: answer.input, ...windowInfo(),
                   stimulus_w: Math.round(img.getBoundingClientRect().width),
                   stimulus_h: Math.round(img.getBoundingClientRect().height) };
    window.removeEventListener("resize", refit);
    const r = await BACKEND.respond(body);
    if (r.status !== 200) { location.reload(); await new Promise(() => {}); }
    setStatus("");
    if (this.jsPsych.progressBar) this.jsPsych.progressBar.progress = (t.idx + 1) / t.n;
    if (r.body.feedback) {
      const fb = el.querySelector("#vpt-feedback");
      const f = r.body.feedback;
      fb.className = "vpt-feedback " + (f.correct ? "correct" : "wrong");
      fb.textContent = answer.response === null ? `Too slow. The answer was: ${f.answer}.`
        : f.correct ? "Correct!" : `Not quite. The answer was: ${f.answer}.`;
      await new Promise((res) => setTimeout(res, cfg.feedback_ms));
    }
    return { idx: t.idx, block: t.block, ...answer };
  }
}

function keysHelp(st) {
  return `<p>${st.question}</p><p>Answer with the keys or the buttons:</p><ul>` +
    st.choices.map((c) => `<li><span class="vpt-key">${c.key.toUpperCase()}</span> ${c.text}</li>`).join("") +
    `</ul>` + (st.config.deadline_ms > 0 ? `<p>Please answer within ${st.config.deadline_ms / 1000} seconds.</p>` : "");
}

function finishScreen(done) {
  message(`<h2>Thank you!</h2><p>You have finished the study. Your completion code is:</p>
    <p id="vpt-code" class="vpt-code">${done.code}</p>` + (done.extra_html || "") +
    (done.redirect ? `<p>You will be taken back to Prolific in a few seconds
      (<a id="vpt-redirect" href="${done.redirect}">continue now</a>).</p>` : ""));
  shown("done");
  if (done.redirect) setTimeout(() => { location.href = done.redirect; }, 4000);
}

async function main() {
  const q = new URLSearchParams(location.search);
  const r = await BACKEND.session(q);
  if (r.status === 409 && r.body.locked) { lockedOut(r.body.reference); return; }
  if (r.status !== 200) {
    message(`<h2>The study cannot start</h2><p>${r.body.error || "The server cannot be reached."}</p>
      <p>Please reload the page in a minute, or contact the researcher.</p>`);
    return;
  }
  const st = r.body;
  if (st.phase === "done") { finishScreen(st.completion); return; }

  PROGRESS.idx = st.next_idx; PROGRESS.n = st.n_trials;
  const jsPsych = initJsPsych({ show_progress_bar: true, auto_update_progress_bar: false,
                                message_progress_bar: progressText,
                                on_trial_start: () => { jsPsych.progressBar.progress = PROGRESS.idx / PROGRESS.n; },
                                on_finish: async () => {
    const f = await BACKEND.finish();
    if (f.status === 200) finishScreen(f.body); else location.reload();
  } });
  const timeline = [];
  if (st.phase === "consent") {
    timeline.push({ type: jsPsychHtmlButtonResponse, stimulus: `<div class="vpt-message" id="vpt-consent">${st.consent_html}</div>`,
                    choices: ["I agree"], on_load: () => shown("consent"),
                    on_finish: () => BACKEND.event("consent", windowInfo()) });
  }
  if (st.next_idx === 0) {
    timeline.push({ type: jsPsychInstructions, show_clickable_nav: true, allow_backward: true,
                    on_load: () => shown("instructions"),
                    pages: [`<div class="vpt-message" id="vpt-instructions">${st.instructions_html}</div>`,
                            ...(st.tutorial_html ? [st.tutorial_html] : []),
                            `<div class="vpt-message">${keysHelp(st)}<p>First come ${st.trials.filter((x) => x.block === "warmup").length}
                              practice pictures; after each you will see whether you were right.</p></div>`],
                    button_label_next: "Next", button_label_previous: "Back" });
  } else {
    timeline.push({ type: VptScreenPlugin, screen: "welcome-back",
                    html: `<h2>Welcome back</h2><p>You continue where you stopped (picture ${st.next_idx + 1} of
                      ${st.n_trials}).</p>${keysHelp(st)}` });
  }
  const rest = st.trials.filter((x) => x.idx >= st.next_idx);
  if (rest.length) timeline.push({ type: jsPsychPreload, images: rest.map((x) => x.src), show_progress_bar: false });
  let prev = st.next_idx > 0 ? st.trials[st.next_idx - 1].block : "warmup";
  const nTest = st.trials.filter((x) => x.block !== "warmup").length;
  for (const trial of rest) {
    if (prev === "warmup" && trial.block !== "warmup") {
      timeline.push({ type: VptScreenPlugin, screen: "test-start", html: `<h2>The practice is over</h2>
        <p>Now come ${nTest} pictures without feedback. ${keysHelp(st)}</p>` });
    } else if (trial.break_before) {
      timeline.push({ type: VptScreenPlugin, screen: "break", button: "Continue",
                      html: `<h2>Time for a short break</h2><p>You have done ${trial.idx} of ${st.n_trials}
                        pictures. Continue when you are ready.</p>` });
    }
    prev = trial.block;
    timeline.push({ type: VptChoicePlugin, idx: trial.idx, n: st.n_trials, block: trial.block, src: trial.src,
                    question: st.question, choices: st.choices, cfg: st.config });
  }
  await jsPsych.run(timeline);
}

// on JATOS, jatos.js must be ready before the first answer is appended
if (window.jatos && typeof window.jatos.onLoad === "function") window.jatos.onLoad(main); else main();
