/* The static backend of the vpt human experiment (`vpt human static`): no server of ours.
 *
 * The bundle's study.js sets window.VPT_STATIC: pre-drawn plans (the same Python code draws
 * them as for `vpt human serve`, one seed each), the wording, the buttons, the warm-up answers
 * (for feedback; test answers are not in the bundle). A participant gets a random plan and a
 * random id; their progress lives in local storage (a reload resumes), and every answer is
 * appended to the platform's result data as one JSON line when it is made (JATOS:
 * jatos.appendResultData). Without a platform the results are offered as a file at the end.
 */
"use strict";

window.vptStaticBackend = function (S) {
  const KEY = "vpt-static:" + S.study_id;
  const platform = () => (window.jatos && typeof window.jatos.appendResultData === "function") ? window.jatos : null;
  const load = () => JSON.parse(localStorage.getItem(KEY) || "null");
  const save = (p) => localStorage.setItem(KEY, JSON.stringify(p));
  const now = () => new Date().toISOString();
  const rand = (n) => { const a = new Uint32Array(1); crypto.getRandomValues(a); return a[0] % n; };
  const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
  const ok = (body) => ({ status: 200, body });

  async function emit(p, row) {
    const line = JSON.stringify({ vpt_static: 1, study_id: S.study_id, participant: p.participant, plan: p.plan,
                                  flip: p.flip, at: now(), ...row });
    p.lines.push(line);
    save(p);
    const jatos = platform();
    if (jatos) await jatos.appendResultData(line + "\n");
  }

  function state(p) {
    const plan = S.plans[p.plan].trials;
    return ok({
      phase: p.finished_at ? "done" : p.consent_at ? "trials" : "consent", next_idx: p.answered, n_trials: plan.length,
      task: S.task, trials: plan.map((t) => ({ idx: t.idx, block: t.block, src: "stimuli/" + t.key + ".png",
                                               break_before: t.break_before })),
      choices: S.choices[p.flip ? 1 : 0], question: S.question, instructions_html: S.instructions_html,
      consent_html: S.consent_html, config: S.config,
      completion: p.finished_at ? { code: p.code, redirect: S.completion_url } : null });
  }

  return {
    async session() {
      let p = load();
      if (!p) {
        p = { participant: "s-" + hex(8), plan: rand(S.plans.length), flip: rand(2) === 1, answered: 0, lines: [],
              consent_at: null, finished_at: null, code: null };
        await emit(p, { type: "start", seed: S.plans[p.plan].seed });
      }
      return state(p);
    },
    async event(kind, info) {
      const p = load();
      if (kind === "consent" && !p.consent_at) p.consent_at = now();
      await emit(p, { type: "event", kind, ...info });
      return ok({ ok: true });
    },
    async respond(body) {
      const p = load();
      if (body.idx < p.answered) return ok({ stored: false, next_idx: p.answered });
      if (body.idx > p.answered) return { status: 409, body: { error: "out of order" } };
      const t = S.plans[p.plan].trials[body.idx];
      p.answered += 1;
      await emit(p, { type: "response", block: t.block, key: t.key, ...body });
      const out = { stored: true, next_idx: p.answered };
      if (t.block === "warmup") {
        const label = S.warmup_answers[t.key];
        out.feedback = { correct: body.response === label, answer: S.answer_text[String(label)] };
      }
      return ok(out);
    },
    async finish() {
      const p = load();
      if (!p.finished_at) {
        p.finished_at = now();
        p.code = S.completion_code || hex(4).toUpperCase();
        await emit(p, { type: "finish", code: p.code });
      }
      let extra = "";
      const jatos = platform();
      if (jatos && typeof jatos.endStudyAjax === "function") jatos.endStudyAjax(true, "completed");
      if (!jatos) {
        const url = URL.createObjectURL(new Blob([p.lines.join("\n") + "\n"], { type: "application/x-ndjson" }));
        extra = `<p><a id="vpt-download" download="vpt-results-${p.participant}.jsonl" href="${url}">Download your
          results file</a> and send it to the researcher.</p>`;
      }
      return ok({ code: p.code, redirect: S.completion_url, extra_html: extra });
    },
  };
};
