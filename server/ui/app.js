// refundd decision explorer: a small page over refundd's own API. Every
// datum comes from the API under the reader's bearer token, kept for this
// tab only (sessionStorage). Text from the API is always set as text, never
// as markup.
"use strict";

const T = {
  en: {
    nav_list: "Decisions", nav_try: "Try a claim", nav_impact: "Impact", language: "Language",
    use_token: "Use token", token_placeholder: "Bearer token",
    need_token: "This server wants a bearer token with the read scope: paste it above.",
    forbidden: "Your token lacks the scope this needs.",
    merchant: "Merchant", outcome: "Outcome", remedy: "Remedy", since: "Since", until: "Until",
    any: "any", filter: "Filter", more: "More", time: "Time", refund: "Refund", decision: "Decision",
    none_logged: "No decision matches.", revision: "Revision", engine_time: "Engine time",
    refunded: "Refunded", withheld: "Withheld", line: "Line", amount: "Amount", code: "Code",
    reasons: "Reasons", obligations: "Obligations", none: "none",
    legal_floor: "Statutory floor", country: "Country", shortfall: "Shortfall", mode: "Mode", grants: "Grants", last_day: "Last day", right: "Right", status: "Status", comparison: "Comparison",
    request: "Request as logged", explain: "Rules that fired (re-evaluated on the live policy)",
    explain_button: "Show the rules that fired", try_this: "Try this claim",
    live_revision: "live revision", rule: "Rule", location: "File and line",
    claim: "Claim (a DecisionRequest, JSON)", decide: "Decide (not logged)", trial_note: "A trial: not logged, not a decision of record.",
    candidate: "Candidate bundle (.tar.gz)", sample: "Sample size", run_impact: "Run the impact analysis",
    decisions_replayed: "Decisions replayed", changed: "Would change", failed: "Could not be decided",
    transitions: "Outcomes before (rows) and after (columns)", money: "Money refunded", before: "Before", after: "After",
    change: "Change", samples: "Sample of changes", running: "Running…", no_merchant: "Choose a merchant.",
    not_found: "No such decision.", error: "Error",
  },
  fr: {
    nav_list: "Décisions", nav_try: "Essayer une demande", nav_impact: "Impact", language: "Langue",
    use_token: "Utiliser le jeton", token_placeholder: "Jeton (bearer)",
    need_token: "Ce serveur demande un jeton avec le droit de lecture : collez-le ci-dessus.",
    forbidden: "Votre jeton n'a pas le droit que cela demande.",
    merchant: "Marchand", outcome: "Issue", remedy: "Remède", since: "Depuis", until: "Jusqu'à",
    any: "tous", filter: "Filtrer", more: "Suite", time: "Date", refund: "Remboursement", decision: "Décision",
    none_logged: "Aucune décision ne correspond.", revision: "Révision", engine_time: "Temps moteur",
    refunded: "Remboursé", withheld: "Retenu", line: "Ligne", amount: "Montant", code: "Code",
    reasons: "Motifs", obligations: "Obligations", none: "aucun",
    legal_floor: "Socle légal", country: "Pays", shortfall: "Manque", mode: "Mode", grants: "Accorde", last_day: "Dernier jour", right: "Droit", status: "Statut", comparison: "Comparaison",
    request: "Demande telle que journalisée", explain: "Règles appliquées (réévaluées sur la politique en service)",
    explain_button: "Voir les règles appliquées", try_this: "Essayer cette demande",
    live_revision: "révision en service", rule: "Règle", location: "Fichier et ligne",
    claim: "Demande (DecisionRequest, JSON)", decide: "Décider (sans journaliser)", trial_note: "Un essai : non journalisé, ce n'est pas une décision.",
    candidate: "Bundle candidat (.tar.gz)", sample: "Taille de l'échantillon", run_impact: "Lancer l'analyse d'impact",
    decisions_replayed: "Décisions rejouées", changed: "Changeraient", failed: "Non décidées",
    transitions: "Issues avant (lignes) et après (colonnes)", money: "Montants remboursés", before: "Avant", after: "Après",
    change: "Écart", samples: "Échantillon des changements", running: "En cours…", no_merchant: "Choisissez un marchand.",
    not_found: "Décision introuvable.", error: "Erreur",
  },
};
const OUTCOMES = ["approve", "partial", "deny", "refer"];

const state = {
  lang: localStorage.getItem("refundd.lang") || ((navigator.language || "en").startsWith("fr") ? "fr" : "en"),
  token: sessionStorage.getItem("refundd.token") || "",
  merchants: null,
  claim: null, // a claim handed from a decision page to the try form
};

const t = (key) => (T[state.lang] && T[state.lang][key]) || T.en[key] || key;

// el builds an element: el("td", {class: "x"}, "text", child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function notice(text) {
  const n = document.getElementById("notice");
  n.textContent = text || "";
  n.hidden = !text;
}

// api calls refundd with the token and the language; an error answer
// becomes an Error whose message is the API's own.
async function api(path, opts = {}) {
  const headers = Object.assign({ "Accept-Language": state.lang }, opts.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const resp = await fetch(path, Object.assign({}, opts, { headers }));
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    let msg = (body && body.message) || resp.status + " " + resp.statusText;
    if (body && body.errors) msg += ": " + body.errors.map((e) => e.field + " " + e.message).join("; ");
    if (resp.status === 401) { msg = t("need_token"); document.getElementById("token").focus(); }
    if (resp.status === 403) msg = t("forbidden") + " (" + msg + ")";
    const err = new Error(msg);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function money(amount, currency) {
  if (typeof amount !== "number") return "";
  try {
    const f = new Intl.NumberFormat(state.lang === "fr" ? "fr-FR" : "en-GB", { style: "currency", currency });
    const digits = f.resolvedOptions().maximumFractionDigits;
    return f.format(amount / 10 ** digits);
  } catch (_) {
    return amount + " " + (currency || "");
  }
}

function when(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return iso || "";
  return d.toLocaleString(state.lang === "fr" ? "fr-FR" : "en-GB", { timeZone: "UTC", dateStyle: "medium", timeStyle: "medium" }) + " UTC";
}

// toRFC3339 reads a datetime-local field as UTC.
const toRFC3339 = (v) => (v ? new Date(v + "Z").toISOString().replace(/\.\d{3}Z$/, "Z") : "");

async function merchants() {
  if (state.merchants) return state.merchants;
  try {
    const body = await api("/v1/merchants");
    state.merchants = body.merchants.map((m) => m.id);
  } catch (_) {
    state.merchants = []; // a token without the status scope: type the id
  }
  return state.merchants;
}

async function merchantField(name, value, required) {
  const ids = await merchants();
  if (ids.length === 0) return el("input", { name, value: value || "", required, pattern: "[a-z][a-z0-9_]*" });
  return el("select", { name, required },
    required ? null : el("option", { value: "" }, t("any")),
    ids.map((id) => el("option", { value: id, selected: id === value }, id)));
}

function field(label, input) {
  return el("label", {}, el("span", {}, label), input);
}

function outcomeBadge(o) {
  return el("span", { class: "badge " + o }, o);
}

// ---- the list ----

async function viewList(params) {
  const main = document.getElementById("main");
  const q = new URLSearchParams(params);
  const form = el("form", { class: "filters", id: "filters" },
    field(t("merchant"), await merchantField("merchant", q.get("merchant"), false)),
    field(t("outcome"), el("select", { name: "outcome" }, el("option", { value: "" }, t("any")),
      OUTCOMES.map((o) => el("option", { value: o, selected: o === q.get("outcome") }, o)))),
    field(t("since") + " (UTC)", el("input", { type: "datetime-local", name: "since", step: 1, value: (q.get("since") || "").replace(/Z$/, "") })),
    field(t("until") + " (UTC)", el("input", { type: "datetime-local", name: "until", step: 1, value: (q.get("until") || "").replace(/Z$/, "") })),
    el("button", { type: "submit" }, t("filter")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const out = new URLSearchParams();
    for (const k of ["merchant", "outcome"]) if (f.get(k)) out.set(k, f.get(k));
    for (const k of ["since", "until"]) if (f.get(k)) out.set(k, toRFC3339(f.get(k)));
    location.hash = "#/?" + out.toString();
  });
  const tbody = el("tbody");
  const table = el("table", { class: "list", id: "decisions" },
    el("thead", {}, el("tr", {}, [t("time"), t("merchant"), t("outcome"), t("remedy"), t("refund"), t("decision")].map((h) => el("th", {}, h)))),
    tbody);
  const more = el("button", { type: "button", hidden: true, id: "more" }, t("more"));
  main.replaceChildren(el("h1", {}, t("nav_list")), form, table, more);

  async function page(cursor) {
    const query = new URLSearchParams();
    for (const k of ["merchant", "outcome", "since", "until"]) if (q.get(k)) query.set(k, q.get(k));
    query.set("limit", "50");
    if (cursor) query.set("cursor", cursor);
    const body = await api("/v1/decisions?" + query.toString());
    for (const r of body.decisions) {
      tbody.append(el("tr", {},
        el("td", {}, when(r.time)), el("td", {}, r.merchant), el("td", {}, outcomeBadge(r.outcome)),
        el("td", {}, r.remedy), el("td", { class: "num" }, money(r.refunded, r.currency)),
        el("td", {}, el("a", { href: "#/d/" + encodeURIComponent(r.decision_id) }, r.decision_id))));
    }
    if (!tbody.children.length) tbody.append(el("tr", {}, el("td", { colspan: 6 }, t("none_logged"))));
    more.hidden = !body.next_cursor;
    more.onclick = () => page(body.next_cursor).catch((e) => notice(e.message));
  }
  await page("");
}

// ---- a decision ----

function renderDecision(doc, opts = {}) {
  const reasonText = {};
  for (const r of doc.reasons || []) reasonText[r.code] = r.message;
  const refund = doc.refund || {};
  const parts = [
    el("dl", { class: "facts" },
      el("dt", {}, t("merchant")), el("dd", {}, doc.merchant),
      el("dt", {}, t("revision")), el("dd", {}, doc.revision),
      el("dt", {}, t("outcome")), el("dd", { id: "outcome" }, outcomeBadge(doc.outcome)),
      el("dt", {}, t("remedy")), el("dd", {}, doc.remedy),
      el("dt", {}, t("refunded")), el("dd", { class: "num", id: "refunded" }, money(refund.amount, refund.currency)),
      opts.extra || []),
    el("h2", {}, t("withheld")),
    (refund.withheld || []).length
      ? el("table", { class: "withheld", id: "withheld" },
        el("thead", {}, el("tr", {}, [t("line"), t("amount"), t("code")].map((h) => el("th", {}, h)))),
        el("tbody", {}, refund.withheld.map((w) => el("tr", {},
          el("td", {}, w.line_id), el("td", { class: "num" }, money(w.amount, refund.currency)),
          el("td", {}, el("code", {}, w.code), reasonText[w.code] ? el("div", { class: "note" }, reasonText[w.code]) : null)))))
      : el("p", { class: "muted" }, t("none")),
    explained(t("reasons"), doc.reasons, "reasons"),
    explained(t("obligations"), doc.obligations, "obligations"),
  ];
  if (doc.legal_floor) parts.push(floor(doc.legal_floor, refund.currency));
  if (doc.explanation) parts.push(fired(doc.explanation));
  return el("section", { class: "decision" }, parts);
}

function explained(title, list, id) {
  return [el("h2", {}, title), (list || []).length
    ? el("ul", { class: "explained", id }, list.map((r) => el("li", {}, el("code", {}, r.code), " ", r.message)))
    : el("p", { class: "muted" }, t("none"))];
}

function floor(lf, cur) {
  const rows = (lf.rights || []).map((r) => el("tr", {},
    el("td", {}, r.right || ""), el("td", {}, r.status || ""), el("td", {}, r.comparison || ""),
    el("td", { class: "num" }, r.grants && typeof r.grants.amount === "number" ? money(r.grants.amount, cur) : ""),
    el("td", {}, (r.window && r.window.last_day) || ""),
    el("td", {}, el("code", {}, r.code || ""), r.message ? el("div", { class: "note" }, r.message) : null,
      (r.basis || []).length ? el("div", { class: "muted" }, r.basis.join(", ")) : null)));
  return [el("h2", {}, t("legal_floor")),
    el("dl", { class: "facts" },
      el("dt", {}, t("country")), el("dd", {}, lf.jurisdiction || "—"),
      el("dt", {}, t("comparison")), el("dd", { id: "floor-comparison" }, lf.comparison || "—"),
      el("dt", {}, t("shortfall")), el("dd", { class: "num" }, typeof lf.shortfall === "number" ? money(lf.shortfall, cur) : "—"),
      el("dt", {}, t("mode")), el("dd", {}, lf.mode || "")),
    rows.length ? el("table", { id: "floor" },
      el("thead", {}, el("tr", {}, [t("right"), t("status"), t("comparison"), t("grants"), t("last_day"), t("code")].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)) : null];
}

function fired(list) {
  return [el("h2", {}, t("explain")),
    el("table", { id: "fired" }, el("thead", {}, el("tr", {}, el("th", {}, t("rule")), el("th", {}, t("location")))),
      el("tbody", {}, list.map((f) => el("tr", {}, el("td", {}, el("code", {}, f.rule)), el("td", {}, el("code", {}, f.location))))))];
}

async function viewDecision(id) {
  const main = document.getElementById("main");
  const rec = await api("/v1/decisions/" + encodeURIComponent(id) + "?lang=" + state.lang);
  const doc = rec.decision;
  const explainBox = el("div", { id: "explain" });
  const explainButton = el("button", { type: "button", id: "explain-button" }, t("explain_button"));
  explainButton.addEventListener("click", async () => {
    explainButton.disabled = true;
    try {
      const out = await api("/v1/merchants/" + encodeURIComponent(rec.merchant) + "/try", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(rec.request),
      });
      explainBox.replaceChildren(el("p", { class: "muted" }, t("live_revision") + ": " + out.decision.revision), ...fired(out.decision.explanation || []));
    } catch (e) {
      explainBox.replaceChildren(el("p", { class: "error" }, e.message));
    }
  });
  const tryLink = el("a", { href: "#/try", id: "try-this" }, t("try_this"));
  tryLink.addEventListener("click", () => { state.claim = { merchant: rec.merchant, request: rec.request }; });
  main.replaceChildren(
    el("h1", {}, t("decision"), " ", el("code", {}, rec.decision_id)),
    renderDecision(doc, { extra: [el("dt", {}, t("time")), el("dd", {}, when(rec.time)), el("dt", {}, t("engine_time")), el("dd", {}, (rec.engine_ns / 1000).toFixed(0) + " µs")] }),
    el("p", {}, explainButton, " ", tryLink), explainBox,
    el("h2", {}, t("request")), el("pre", { class: "json", id: "request" }, JSON.stringify(rec.request, null, 2)));
}

// ---- try a claim ----

async function viewTry() {
  const main = document.getElementById("main");
  const handed = state.claim;
  state.claim = null;
  const text = el("textarea", { name: "claim", rows: 24, spellcheck: "false", required: true, id: "claim" },
    handed ? JSON.stringify(handed.request, null, 2) : "");
  const out = el("div", { id: "result" });
  const form = el("form", { id: "try-form" },
    field(t("merchant"), await merchantField("merchant", handed && handed.merchant, true)),
    field(t("claim"), text),
    el("button", { type: "submit" }, t("decide")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const merchant = new FormData(form).get("merchant");
    if (!merchant) { out.replaceChildren(el("p", { class: "error" }, t("no_merchant"))); return; }
    try {
      const body = await api("/v1/merchants/" + encodeURIComponent(merchant) + "/try", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: text.value,
      });
      out.replaceChildren(el("p", { class: "muted" }, t("trial_note")), renderDecision(body.decision));
    } catch (e) {
      out.replaceChildren(el("p", { class: "error" }, e.message));
    }
  });
  main.replaceChildren(el("h1", {}, t("nav_try")), form, out);
}

// ---- impact ----

async function viewImpact() {
  const main = document.getElementById("main");
  const out = el("div", { id: "impact-result" });
  const form = el("form", { id: "impact-form" },
    field(t("merchant"), await merchantField("merchant", "", true)),
    field(t("candidate"), el("input", { type: "file", name: "bundle", accept: ".tar.gz,.tgz,application/gzip", required: true, id: "bundle" })),
    field(t("since") + " (UTC)", el("input", { type: "datetime-local", name: "since", step: 1 })),
    field(t("until") + " (UTC)", el("input", { type: "datetime-local", name: "until", step: 1 })),
    field(t("sample"), el("input", { type: "number", name: "sample", min: 1, max: 1000, value: 20 })),
    el("button", { type: "submit" }, t("run_impact")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const q = new URLSearchParams();
    for (const k of ["since", "until"]) if (f.get(k)) q.set(k, toRFC3339(f.get(k)));
    if (f.get("sample")) q.set("sample", f.get("sample"));
    out.replaceChildren(el("p", { class: "muted" }, t("running")));
    try {
      const rep = await api("/v1/merchants/" + encodeURIComponent(f.get("merchant")) + "/impact?" + q.toString(), {
        method: "POST", headers: { "Content-Type": "application/gzip" }, body: f.get("bundle"),
      });
      out.replaceChildren(renderImpact(rep));
    } catch (e) {
      out.replaceChildren(el("p", { class: "error" }, e.message));
    }
  });
  main.replaceChildren(el("h1", {}, t("nav_impact")), form, out);
}

function renderImpact(rep) {
  const tr = rep.transitions || {};
  const cols = OUTCOMES.filter((o) => Object.values(tr).some((row) => row[o])).concat(["failed"].filter((o) => Object.values(tr).some((row) => row[o])));
  const rows = Object.keys(tr).sort();
  const matrix = el("table", { class: "matrix", id: "transitions" },
    el("thead", {}, el("tr", {}, el("th", {}, ""), cols.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, el("th", {}, r),
      cols.map((c) => el("td", { class: "num" + (r !== c && tr[r][c] ? " changed" : "") }, tr[r][c] || 0))))));
  const moneyTable = el("table", { id: "money" },
    el("thead", {}, el("tr", {}, ["", t("before"), t("after"), t("change")].map((h) => el("th", {}, h)))),
    el("tbody", {}, Object.entries(rep.refunded || {}).map(([cur, m]) => el("tr", {},
      el("th", {}, cur), [m.before, m.after, m.change].map((v) => el("td", { class: "num" }, money(v, cur)))))));
  const sample = el("table", { id: "sample" },
    el("thead", {}, el("tr", {}, [t("decision"), t("time"), t("before"), t("after")].map((h) => el("th", {}, h)))),
    el("tbody", {}, (rep.sample || []).map((c) => el("tr", {},
      el("td", {}, el("a", { href: "#/d/" + encodeURIComponent(c.decision_id) }, c.decision_id)),
      el("td", {}, when(c.time)),
      el("td", {}, outcomeBadge(c.before.outcome), " ", c.before.remedy, " ", money(c.before.refund.amount, c.before.refund.currency)),
      el("td", {}, c.after ? [outcomeBadge(c.after.outcome), " ", c.after.remedy, " ", money(c.after.refund.amount, c.after.refund.currency)] : "—")))));
  return el("section", {},
    el("dl", { class: "facts" },
      el("dt", {}, t("revision")), el("dd", {}, rep.candidate_revision),
      el("dt", {}, t("decisions_replayed")), el("dd", { id: "replayed" }, rep.decisions),
      el("dt", {}, t("changed")), el("dd", { id: "changed" }, rep.changed),
      el("dt", {}, t("failed")), el("dd", {}, rep.failed)),
    el("h2", {}, t("transitions")), matrix,
    el("h2", {}, t("money")), moneyTable,
    el("h2", {}, t("samples")), sample,
    (rep.errors || []).length ? el("ul", { class: "error" }, rep.errors.map((e) => el("li", {}, e))) : null);
}

// ---- routing ----

function translateChrome() {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  for (const e of document.querySelectorAll("[data-tp]")) e.placeholder = t(e.dataset.tp);
  document.getElementById("lang").value = state.lang;
}

async function route() {
  delete document.body.dataset.ready;
  notice("");
  translateChrome();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.getAttribute("href") === "#" + path);
  try {
    if (path.startsWith("/d/")) await viewDecision(decodeURIComponent(path.slice(3)));
    else if (path === "/try") await viewTry();
    else if (path === "/impact") await viewImpact();
    else await viewList(query || "");
  } catch (e) {
    notice(e.message);
  }
  document.body.dataset.ready = hash; // the page has settled on this view, filters included (for tests and scripts)
}

document.getElementById("lang").addEventListener("change", (ev) => {
  state.lang = ev.target.value;
  localStorage.setItem("refundd.lang", state.lang);
  route();
});
document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = document.getElementById("token");
  state.token = input.value.trim();
  input.value = "";
  sessionStorage.setItem("refundd.token", state.token);
  state.merchants = null;
  route();
});
window.addEventListener("hashchange", route);
route();
