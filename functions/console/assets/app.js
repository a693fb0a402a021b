// The operator console: a hash-routed page over the admin API of the same origin. The admin token
// lives in sessionStorage (this tab only) and goes out only as the Authorization header; nothing
// is built from HTML strings, so no value the API answers can become markup.
import { t, language, setLanguage, translateStatic } from "/console/i18n.js";
import {
  TOKEN_KEY, Refused, act, api, badge, busy, card, clearMessages, del, describeError, duration, field,
  get, h, kv, loading, mp, post, put, renderValue, show, showError, table, token, when,
} from "/console/ui.js";
import { pushView, pushesView, webhookView, webhooksView } from "/console/gateway.js";
import { onboardingView, onboardingsView } from "/console/onboarding.js";

const PAGE_SIZE = 20;

// A state's label in the operator's language; the state itself when there is none.
function label(group, value) {
  const text = t(`${group}.${value}`);
  return text === `${group}.${value}` ? value : text;
}

// ---- sign-in ------------------------------------------------------------------------------

function signInView() {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, size: 48 });
  const form = h(
    "form",
    {
      class: "card signin",
      id: "signin-form",
      onsubmit: async (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        try {
          await busy(t("busy.loading"), () => get("/admin/health"));
          location.hash = "#/mini-programs";
        } catch (err) {
          // Kept only once the API accepted it (a refusal already removed it).
          sessionStorage.removeItem(TOKEN_KEY);
          if (!(err instanceof Refused)) showError(err);
        }
      },
    },
    h("h1", {}, t("signin.title")),
    field(t("signin.token"), input),
    h("p", { class: "muted" }, t("signin.hint")),
    h("button", { type: "submit", id: "signin" }, t("signin.submit"))
  );
  show(form);
  input.focus();
}

function refusedView() {
  show(
    h(
      "section",
      { class: "card signin", id: "refused" },
      h("h1", {}, t("refused.title")),
      h("p", {}, t("refused.text")),
      h("button", { id: "signin-again", onclick: () => (location.hash = "#/signin") }, t("refused.again"))
    )
  );
}

// ---- mini programs ------------------------------------------------------------------------

function statusBadge(a) {
  if (a.test_account) return badge(t("status.test_account"), "info");
  const kind = { authorized: "ok", unauthorized: "bad", reauthorization_required: "warn" }[a.status] || "";
  return badge(t(`status.${a.status}`), kind);
}

function auditBadge(audit) {
  if (!audit) return "—";
  const kind = { passed: "ok", released: "ok", rejected: "bad", pending: "info", delayed: "warn" }[audit.status] || "";
  return h("span", {}, badge(t(`audit.${audit.status}`), kind), " ", h("span", { class: "muted" }, when(audit.result_at || audit.submitted_at)));
}

function latestAuditCell(appid) {
  const cell = h("span", { class: "muted" }, "…");
  get(mp(appid, "/audits"), { limit: 1 })
    .then((r) => {
      const audit = (r.audits || [])[0];
      cell.replaceWith(audit ? h("span", {}, h("span", { class: "mono" }, audit.user_version || ""), " ", auditBadge(audit)) : "—");
    })
    .catch(() => cell.replaceWith("—"));
  return cell;
}

function miniProgramsView(params) {
  const status = params.get("status") || "";
  const q = params.get("q") || "";
  const cursor = params.get("cursor") || "";
  const search = h("input", { id: "mp-search", type: "search", value: q, placeholder: t("mp.search") });
  const states = ["", "authorized", "unauthorized", "reauthorization_required", "test_account"];
  const select = h(
    "select",
    { id: "mp-status" },
    states.map((s) => h("option", { value: s, selected: s === status }, s ? t(`status.${s}`) : t("mp.all")))
  );
  const go = (extra = {}) => {
    const next = new URLSearchParams({ status: select.value, q: search.value.trim(), ...extra });
    for (const [k, v] of [...next]) if (!v) next.delete(k);
    location.hash = `#/mini-programs?${next}`;
  };
  const filters = h(
    "form",
    { class: "row", onsubmit: (e) => { e.preventDefault(); go(); } },
    search,
    select,
    h("button", { type: "submit", id: "mp-filter" }, t("mp.filter")),
    h("span", { class: "spacer" }),
    h("a", { href: "/auth/start", id: "authorize-link" }, t("mp.authorize"))
  );
  const query = { limit: PAGE_SIZE, cursor, q };
  if (status === "test_account") query.test_account = "true";
  else if (status) query.status = status;
  const list = loading(async () => {
    const page = await get("/admin/authorizers", query);
    const rows = (page.authorizers || []).map((a) => [
      h("a", { href: `#/mp/${a.appid}`, class: "mp-link", dataset: { appid: a.appid } }, a.nick_name || a.appid),
      h("span", { class: "mono" }, a.appid),
      statusBadge(a),
      a.has_code_management ? badge(t("set18.yes"), "ok") : badge(t("set18.no"), "bad"),
      a.last_commit ? commitLine(a.last_commit) : "—",
      latestAuditCell(a.appid),
    ]);
    const pager = h(
      "div",
      { class: "row pager" },
      cursor ? h("button", { class: "secondary", onclick: () => go() }, t("mp.first")) : null,
      page.next_cursor ? h("button", { class: "secondary", id: "mp-next", onclick: () => go({ cursor: page.next_cursor }) }, t("mp.next")) : null
    );
    if (!rows.length) return [h("p", { class: "muted", id: "mp-empty" }, t("mp.none")), pager];
    return [
      table([t("mp.name"), t("mp.appid"), t("mp.status"), t("mp.set18"), t("mp.version"), t("mp.review")], rows, { id: "mp-table" }),
      pager,
    ];
  });
  show(h("h1", {}, t("mp.title")), card(null, filters, list));
}

// One mini program: every code action, each behind a confirmation where it changes anything.
function infoSection(appid) {
  const section = h("div", { id: "mp-info" });
  section.append(loading(async () => {
    const { authorizer: a } = await get(mp(appid));
    return [
      h("h1", { id: "mp-name" }, a.nick_name || a.appid, " ", statusBadge(a)),
      kv([
        [t("mp.appid"), h("span", { class: "mono" }, a.appid)],
        [t("detail.principal"), a.principal_name],
        [t("detail.sets"), (a.permission_sets || []).join(", ")],
        [t("mp.set18"), a.has_code_management ? badge(t("set18.yes"), "ok") : badge(t("set18.no"), "bad")],
        [t("detail.authorized_at"), when(a.authorized_at)],
        [t("mp.version"), a.last_commit ? commitLine(a.last_commit) : "—"],
      ]),
    ];
  }));
  return section;
}

function miniProgramView(appid) {
  const info = infoSection(appid);
  show(
    info,
    h("div", { class: "grid" }, commitCard(appid), qrCard(appid)),
    reviewCard(appid),
    readinessCard(appid),
    versionsCard(appid),
    extCard(appid),
    h("div", { class: "grid" }, domainsCard(appid, "domains"), domainsCard(appid, "webview")),
    testersCard(appid),
    auditsCard(appid),
    actionsCard(appid)
  );
}

// A commit as the operator reads it: template, version, description and when.
function commitLine(commit) {
  return [commit.template_id, commit.user_version, commit.user_desc, when(commit.committed_at || commit.at)].filter((x) => x && x !== "—").join(" · ");
}

function refreshAfter(appid) {
  // The parts that an action changes are read again.
  const info = document.getElementById("mp-info");
  if (info) info.replaceWith(infoSection(appid));
  for (const id of ["audits-card", "actions-card"]) {
    const old = document.getElementById(id);
    if (old) old.replaceWith(id === "audits-card" ? auditsCard(appid) : actionsCard(appid));
  }
}

function commitCard(appid) {
  const template = h("select", { id: "commit-template" });
  const version = h("input", { id: "commit-version", placeholder: "1.0.0", size: 12 });
  const desc = h("input", { id: "commit-desc", size: 30 });
  const privacy = h("input", { id: "commit-privacy", type: "checkbox" });
  // Offered only when the platform has a default guideline to apply.
  get("/admin/privacy-default")
    .then((r) => (privacy.checked = Boolean(r.default)))
    .catch(() => {});
  get("/admin/templates")
    .then((lib) => {
      const list = lib.template_list || [];
      template.replaceChildren(
        ...list.map((x) => h("option", { value: x.template_id }, `${x.template_id} · ${x.user_version} · ${x.user_desc || ""}`))
      );
      const chosen = () => list.find((x) => String(x.template_id) === template.value);
      const prefill = () => (version.value = (chosen() || {}).user_version || "");
      template.addEventListener("change", prefill);
      if (list.length && !version.value) prefill();
    })
    .catch(showError);
  const form = h(
    "form",
    {
      id: "commit-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const body = { template_id: Number(template.value), user_version: version.value.trim(), user_desc: desc.value };
        if (privacy.checked) body.privacy = "default";
        const result = await act({
          question: t("confirm.commit", { template: body.template_id, version: body.user_version, appid }),
          progress: t("busy.commit"),
          call: () => post(mp(appid, "/commits"), body),
        });
        if (result) refreshAfter(appid);
      },
    },
    field(t("detail.template"), template),
    h("div", { class: "row" }, field(t("detail.user_version"), version), field(t("detail.user_desc"), desc)),
    h("label", { class: "row" }, privacy, h("span", {}, t("detail.privacy_default"))),
    h("button", { type: "submit", id: "commit" }, t("detail.commit"))
  );
  return card(t("detail.commit"), form);
}

function qrCard(appid) {
  const holder = h("div", {});
  const load = () =>
    busy(t("busy.loading"), async () => {
      const blob = await api("GET", mp(appid, "/qrcode"), { blob: true });
      const img = h("img", { id: "qrcode", class: "qr", alt: t("detail.qrcode") });
      img.src = URL.createObjectURL(blob);
      holder.replaceChildren(img);
    }).catch((err) => err instanceof Refused || showError(err));
  return card(t("detail.qrcode"), holder, h("button", { class: "secondary", id: "show-qr", onclick: load }, t("detail.show_qr")));
}

function reviewCard(appid) {
  const pct = h("input", { id: "gray-percentage", type: "number", min: 1, max: 100, value: 10, size: 4 });
  const button = (id, label, cls, handler) => h("button", { id, class: cls, type: "button", onclick: handler }, label);
  const simple = (label, question, call, progress) => async () => {
    const result = await act({ question, call, progress });
    if (result) refreshAfter(appid);
  };
  return card(
    t("detail.code"),
    h(
      "div",
      { class: "row" },
      button(
        "submit-audit",
        t("detail.submit"),
        "",
        async () => {
          const result = await act({
            question: t("confirm.submit", { appid }),
            progress: t("busy.submit"),
            call: () => post(mp(appid, "/audits"), {}),
            done: (r) => t("done.submitted", { auditid: r.auditid ?? (r.audit && r.audit.auditid) ?? "—" }),
          });
          if (result) refreshAfter(appid);
        }
      ),
      button("undo-audit", t("detail.undo"), "secondary", simple(t("detail.undo"), t("confirm.undo", { appid }), () => post(mp(appid, "/audits/undo")))),
      button("speedup-audit", t("detail.speedup"), "secondary", async () => {
        const latest = await get(mp(appid, "/audits"), { limit: 1 }).catch(showError);
        const audit = latest && (latest.audits || [])[0];
        if (!audit) return;
        await simple(t("detail.speedup"), t("confirm.generic", { what: t("detail.speedup") }), () => post(mp(appid, `/audits/${audit.auditid}/speedup`)))();
      }),
      button("release", t("detail.release"), "", simple(t("detail.release"), t("confirm.release", { appid }), () => post(mp(appid, "/release")))),
      button("revert", t("detail.revert"), "danger", simple(t("detail.revert"), t("confirm.revert", { appid }), () => post(mp(appid, "/revert"), {})))
    ),
    h(
      "div",
      { class: "row", style: null },
      field(t("detail.gray_percentage"), pct),
      button("gray-start", t("detail.gray_start"), "secondary", () =>
        simple("", t("confirm.gray", { appid, pct: pct.value }), () => post(mp(appid, "/gray-release"), { gray_percentage: Number(pct.value) }))()
      ),
      button("gray-cancel", t("detail.gray_cancel"), "secondary", simple("", t("confirm.generic", { what: t("detail.gray_cancel") }), () => del(mp(appid, "/gray-release")))),
      button("visit-open", t("detail.visit_open"), "secondary", simple("", t("confirm.generic", { what: t("detail.visit_open") }), () => post(mp(appid, "/visit-status"), { action: "open" }))),
      button("visit-close", t("detail.visit_close"), "danger", simple("", t("confirm.generic", { what: t("detail.visit_close") }), () => post(mp(appid, "/visit-status"), { action: "close" })))
    )
  );
}

function readinessCard(appid) {
  const out = h("div", { id: "readiness" });
  const check = () =>
    busy(t("busy.loading"), async () => {
      const r = await get(mp(appid, "/readiness"));
      out.replaceChildren(renderReadiness(r));
    }).catch((err) => err instanceof Refused || showError(err));
  return card(t("detail.readiness"), out, h("button", { class: "secondary", id: "check-readiness", onclick: check }, t("detail.check")));
}

function renderReadiness(r) {
  const checks = r.checks || r;
  if (Array.isArray(checks)) {
    return table(
      [r.ready ? t("readiness.ready") : t("readiness.not_ready"), "", ""],
      checks.map((c) => [c.name || c.check, c.ok === true || c.status === "ok" ? badge("✓", "ok") : badge(c.status || "✗", c.ok === false ? "bad" : "warn"), c.detail || c.message || c.reason || ""])
    );
  }
  return renderValue(r);
}

function versionsCard(appid) {
  const out = h("div", { id: "versions" });
  const load = () =>
    busy(t("busy.loading"), async () => out.replaceChildren(renderValue(await get(mp(appid, "/versions"))))).catch(
      (err) => err instanceof Refused || showError(err)
    );
  return card(t("detail.versions"), out, h("button", { class: "secondary", id: "load-versions", onclick: load }, t("detail.load")));
}

function extCard(appid) {
  const area = h("textarea", { id: "ext-json", spellcheck: "false" });
  get(mp(appid))
    .then(({ authorizer }) => (area.value = JSON.stringify(authorizer.ext || {}, null, 2)))
    .catch(() => {});
  const save = async () => {
    let ext;
    try {
      ext = JSON.parse(area.value || "{}");
    } catch {
      showError(new Error(`ext: ${t("err.json")}`));
      return;
    }
    await act({ question: t("confirm.generic", { what: t("detail.ext") }), call: () => put(mp(appid, "/ext"), { ext }) });
  };
  return card(t("detail.ext"), area, h("div", { class: "row" }, h("button", { id: "save-ext", onclick: save }, t("detail.save"))));
}

function domainsCard(appid, kind) {
  const path = kind === "webview" ? "/webview-domains" : "/domains";
  const key = kind === "webview" ? "webviewdomain" : "requestdomain";
  const area = h("textarea", { id: `${kind}-list`, placeholder: t("detail.one_per_line") });
  const out = h("div", {});
  const read = () =>
    act({
      call: () => post(mp(appid, path), { action: "get" }),
      done: (r) => {
        out.replaceChildren(renderValue(r));
        area.value = (r[key] || []).join("\n");
        return t("done.ok");
      },
    });
  const set = () =>
    act({
      question: t("confirm.generic", { what: `${t(kind === "webview" ? "detail.webview" : "detail.domains")} · ${t("detail.domains_set")}` }),
      call: () => post(mp(appid, path), { action: "set", [key]: area.value.split(/\s+/).filter(Boolean) }),
    });
  return card(
    t(kind === "webview" ? "detail.webview" : "detail.domains"),
    out,
    field(key, area),
    h("div", { class: "row" }, h("button", { class: "secondary", onclick: read }, t("detail.domains_get")), h("button", { onclick: set }, t("detail.domains_set")))
  );
}

function testersCard(appid) {
  const list = h("div", {});
  const wechatid = h("input", { id: "tester-id", placeholder: t("detail.wechatid") });
  const load = () =>
    get(mp(appid, "/testers"))
      .then((r) => {
        const members = r.members || [];
        list.replaceChildren(
          members.length
            ? table(
                ["userstr", ""],
                members.map((m) => [
                  h("span", { class: "mono" }, m.userstr),
                  h(
                    "button",
                    {
                      class: "danger",
                      onclick: async () => {
                        if (await act({ question: t("confirm.generic", { what: t("detail.tester_unbind") }), call: () => del(mp(appid, `/testers/${encodeURIComponent(m.userstr)}`)) })) load();
                      },
                    },
                    t("detail.tester_unbind")
                  ),
                ])
              )
            : h("p", { class: "muted" }, t("none"))
        );
      })
      .catch((err) => err instanceof Refused || list.replaceChildren(h("p", { class: "muted" }, describeError(err))));
  load();
  const bind = async (e) => {
    e.preventDefault();
    if (await act({ question: t("confirm.generic", { what: `${t("detail.tester_bind")} ${wechatid.value}` }), call: () => post(mp(appid, "/testers"), { wechatid: wechatid.value.trim() }) })) load();
  };
  return card(t("detail.testers"), list, h("form", { class: "row", onsubmit: bind }, wechatid, h("button", { type: "submit", id: "tester-bind" }, t("detail.tester_bind"))));
}

// While the newest review is under way the card reads it again every few seconds, so the operator
// watches WeChat's result arrive (it comes as a push to the platform, not to the page).
const REVIEW_POLL_MS = 3000;

function auditsCard(appid) {
  const section = h(
    "section",
    { class: "card", id: "audits-card" },
    h("h2", {}, t("detail.reviews")),
    loading(async () => {
      const { audits = [] } = await get(mp(appid, "/audits"));
      const newest = audits[0];
      if (newest && ["pending", "delayed"].includes(newest.status)) {
        const page = location.hash;
        setTimeout(() => {
          if (location.hash === page && section.isConnected) section.replaceWith(auditsCard(appid));
        }, REVIEW_POLL_MS);
      }
      if (!audits.length) return h("p", { class: "muted" }, t("none"));
      return table(
        ["auditid", t("detail.template"), t("mp.status"), t("detail.reason"), t("detail.screenshot"), t("detail.submitted_at"), t("detail.result_at")],
        audits.map((a) => [
          h("span", { class: "mono" }, a.auditid),
          `${a.template_id ?? ""} · ${a.user_version ?? ""}`,
          auditBadge(a),
          a.reason,
          a.screenshot ? screenshotsCell(appid, a) : "—",
          when(a.submitted_at),
          when(a.result_at || a.released_at),
        ]),
        { id: "audits-table" }
      );
    })
  );
  return section;
}

// A rejection's screenshots (media ids in `screenshot`, joined by "|"): fetched with the token
// through the admin API (get_material) when asked for, and shown from memory.
function screenshotsCell(appid, audit) {
  const ids = audit.screenshot.split("|").filter(Boolean);
  const holder = h("div", { class: "row" });
  const load = () =>
    busy(t("busy.loading"), async () => {
      const images = [];
      for (const [i, id] of ids.entries()) {
        const path = mp(appid, `/audits/${audit.auditid}/screenshots/${encodeURIComponent(id)}`);
        const img = h("img", { class: "shot", id: `shot-${audit.auditid}-${i}`, alt: id, title: id });
        img.src = URL.createObjectURL(await api("GET", path, { blob: true }));
        images.push(img);
      }
      holder.replaceChildren(...images);
    }).catch((err) => err instanceof Refused || showError(err));
  holder.append(
    h("button", { type: "button", class: "secondary", dataset: { screenshots: audit.auditid }, onclick: load }, t("detail.show_screenshots", { n: ids.length }))
  );
  return holder;
}

function actionsCard(appid) {
  return h(
    "section",
    { class: "card", id: "actions-card" },
    h("h2", {}, t("detail.actions")),
    loading(async () => {
      const { actions = [] } = await get(mp(appid, "/actions"));
      if (!actions.length) return h("p", { class: "muted" }, t("none"));
      return table(
        [t("detail.when"), t("detail.who"), t("detail.action"), t("detail.outcome")],
        actions.map((a) => [
          when(Math.floor((a.at_ms || 0) / 1000)),
          a.label,
          h("span", { class: "mono" }, a.action),
          badge(`${a.status || ""} ${a.result || ""}${a.errcode ? ` (${a.errcode})` : ""}`.trim(), a.status === "succeeded" ? "ok" : a.status ? "bad" : ""),
        ]),
        { id: "actions-table" }
      );
    })
  );
}

// ---- templates ----------------------------------------------------------------------------

function templatesView() {
  const drafts = loading(async () => {
    const r = await get("/admin/template-drafts");
    const list = r.draft_list || [];
    if (!list.length) return h("p", { class: "muted" }, t("tpl.none"));
    return table(
      [t("tpl.id"), t("tpl.version"), t("tpl.desc"), t("tpl.time"), ""],
      list.map((d) => [
        d.draft_id,
        d.user_version,
        d.user_desc,
        when(d.create_time),
        h("button", { class: "secondary", onclick: () => act({ question: t("confirm.generic", { what: `${t("tpl.add")} #${d.draft_id}` }), call: () => post("/admin/templates", { draft_id: d.draft_id }) }).then((x) => x && templatesView()) }, t("tpl.add")),
      ]),
      { id: "drafts-table" }
    );
  });
  const library = loading(async () => {
    const r = await get("/admin/templates");
    const list = r.template_list || [];
    if (!list.length) return h("p", { class: "muted" }, t("tpl.none"));
    return table(
      [t("tpl.id"), t("tpl.version"), t("tpl.desc"), t("tpl.time"), ""],
      list.map((x) => [
        x.template_id,
        x.user_version,
        x.user_desc,
        when(x.create_time),
        h("button", { class: "danger", onclick: () => act({ question: t("confirm.generic", { what: `${t("tpl.delete")} #${x.template_id}` }), call: () => del(`/admin/templates/${x.template_id}`) }).then((y) => y && templatesView()) }, t("tpl.delete")),
      ]),
      { id: "templates-table" }
    );
  });
  show(h("h1", {}, t("nav.templates")), card(t("tpl.library"), library), card(t("tpl.drafts"), drafts));
}

// ---- rollouts -----------------------------------------------------------------------------

const TARGET_STATES = ["pending", "queued", "committed", "submitted", "passed", "gray", "released", "rejected", "failed", "cancelled"];

function progressBar(counts, total) {
  return h(
    "div",
    { class: "bar", role: "img", "aria-label": t("ro.progress") },
    TARGET_STATES.filter((s) => counts[s]).map((s) => h("span", { class: s, title: `${s}: ${counts[s]}`, style: null, dataset: { width: ((100 * counts[s]) / Math.max(1, total)).toFixed(2) } }))
  );
}

// Widths are set from script (the CSP allows no inline style attribute in the markup).
function sizeBars(root) {
  for (const span of root.querySelectorAll(".bar span[data-width]")) span.style.width = `${span.dataset.width}%`;
}

function rolloutsView() {
  const list = loading(async () => {
    const { rollouts = [] } = await get("/admin/rollouts");
    if (!rollouts.length) return h("p", { class: "muted" }, t("ro.none"));
    return table(
      [t("ro.name"), t("mp.status"), t("ro.count"), t("ro.progress"), t("tpl.time")],
      rollouts.map((r) => [
        h("a", { href: `#/rollouts/${r.id}` }, r.spec?.name || r.id),
        badge(label("rstatus", r.status)),
        r.target_count,
        `${r.done_count}/${r.target_count}`,
        when(r.created_at),
      ]),
      { id: "rollouts-table" }
    );
  });
  show(h("h1", {}, t("ro.title")), newRolloutCard(), card(null, list));
}

function newRolloutCard() {
  const name = h("input", { id: "ro-name", size: 30 });
  const template = h("select", { id: "ro-template" });
  const version = h("input", { id: "ro-version", size: 12 });
  const desc = h("input", { id: "ro-desc", size: 30 });
  const all = h("input", { type: "radio", name: "ro-targets", value: "all", checked: true, id: "ro-all" });
  const some = h("input", { type: "radio", name: "ro-targets", value: "list", id: "ro-some" });
  const appids = h("textarea", { id: "ro-appids" });
  const release = h(
    "select",
    { id: "ro-release" },
    h("option", { value: "manual" }, t("ro.manual")),
    h("option", { value: "auto" }, t("ro.auto")),
    h("option", { value: "gray" }, t("ro.gray"))
  );
  const gray = h("input", { id: "ro-gray", value: "10,50,100", size: 14 });
  const preview = h("div", { id: "ro-preview" });
  get("/admin/templates")
    .then((lib) => template.replaceChildren(...(lib.template_list || []).map((x) => h("option", { value: x.template_id }, `${x.template_id} · ${x.user_version}`))))
    .catch(showError);
  const body = (dryRun) => {
    const b = {
      template_id: Number(template.value),
      user_version: version.value.trim(),
      user_desc: desc.value,
      targets: some.checked ? { appids: appids.value.split(/\s+/).filter(Boolean) } : { all: true },
      release: release.value === "gray" ? { gray: gray.value.split(",").map((x) => Number(x.trim())).filter(Boolean), hold_secs: 3600 } : release.value,
    };
    if (name.value.trim()) b.name = name.value.trim();
    if (dryRun) b.dry_run = true;
    return b;
  };
  const doPreview = async () => {
    const r = await act({ call: () => post("/admin/rollouts", body(true)), done: (x) => `${t("ro.count")}: ${x.target_count}` });
    if (r) preview.replaceChildren(h("p", {}, `${t("ro.count")}: `, h("strong", { id: "ro-preview-count" }, r.target_count)), h("p", { class: "mono" }, r.targets.slice(0, 50).join(" ")));
    return r;
  };
  const create = async (e) => {
    e.preventDefault();
    clearMessages();
    const count = await busy(t("busy.loading"), () => post("/admin/rollouts", body(true))).catch((err) => (err instanceof Refused || showError(err), null));
    if (!count) return;
    const r = await act({ question: t("confirm.rollout", { count: count.target_count }), call: () => post("/admin/rollouts", body(false)) });
    if (r) location.hash = `#/rollouts/${r.rollout.id}`;
  };
  return card(
    t("ro.new"),
    h(
      "form",
      { id: "rollout-form", onsubmit: create },
      h("div", { class: "row" }, field(t("ro.name"), name), field(t("detail.template"), template), field(t("detail.user_version"), version), field(t("detail.user_desc"), desc)),
      h("div", { class: "row" }, h("label", { class: "row" }, all, h("span", {}, t("ro.targets_all"))), h("label", { class: "row" }, some, h("span", {}, t("ro.targets_list")))),
      appids,
      h("div", { class: "row" }, field(t("ro.release"), release), field("%", gray)),
      preview,
      h("div", { class: "row" }, h("button", { type: "button", class: "secondary", id: "ro-preview-button", onclick: doPreview }, t("ro.preview")), h("button", { type: "submit", id: "ro-create" }, t("ro.create")))
    )
  );
}

let rolloutTimer = null;

function rolloutView(id) {
  const summary = h("div", { id: "rollout-summary" });
  const targets = h("div", { id: "rollout-targets" });
  const stateFilter = h("select", { id: "ro-state" }, h("option", { value: "" }, t("mp.all")), TARGET_STATES.map((s) => h("option", { value: s }, s)));
  const loadTargets = () =>
    get(`/admin/rollouts/${encodeURIComponent(id)}/targets`, { state: stateFilter.value, limit: 100 })
      .then((r) => {
        const list = r.targets || [];
        targets.replaceChildren(
          list.length
            ? table(
                [t("mp.appid"), t("ro.state"), "auditid", t("detail.reason"), ""],
                list.map((x) => [
                  h("span", { class: "mono" }, x.appid),
                  badge(label("tstate", x.state), { released: "ok", rejected: "bad", failed: "bad" }[x.state] || ""),
                  x.auditid,
                  [x.errcode ? `${x.errcode} ${x.meaning || ""}` : "", x.reason || x.errmsg || ""].filter(Boolean).join(" — "),
                  ["failed", "rejected"].includes(x.state)
                    ? h("button", { class: "secondary", onclick: () => act({ question: t("confirm.generic", { what: `${t("ro.retry")} ${x.appid}` }), call: () => post(`/admin/rollouts/${encodeURIComponent(id)}/targets/${x.appid}/retry`) }).then(refresh) }, t("ro.retry"))
                    : "",
                ]),
                { id: "targets-table" }
              )
            : h("p", { class: "muted" }, t("none"))
        );
      })
      .catch((err) => err instanceof Refused || showError(err));
  stateFilter.addEventListener("change", loadTargets);
  const withdraw = h("input", { type: "checkbox", id: "ro-withdraw" });
  const control = (action, label, cls, body) =>
    h("button", { class: cls, id: `ro-${action}`, onclick: () => act({ question: t("confirm.generic", { what: label }), call: () => post(`/admin/rollouts/${encodeURIComponent(id)}/${action}`, body ? body() : {}) }).then(refresh) }, label);
  async function refresh() {
    try {
      const r = await get(`/admin/rollouts/${encodeURIComponent(id)}`);
      const ro = r.rollout;
      const counts = r.counts || {};
      summary.replaceChildren(
        h("h1", {}, ro.spec?.name || ro.id, " ", badge(label("rstatus", ro.status), { finished: "ok", cancelled: "bad", paused: "warn", quota_exhausted: "warn" }[ro.status] || "info")),
        progressBar(counts, ro.target_count),
        kv([
          [t("ro.count"), ro.target_count],
          [t("ro.progress"), `${r.done}/${ro.target_count}`],
          [t("ro.remaining"), r.estimated_remaining_secs ? duration(r.estimated_remaining_secs) : "—"],
          ...TARGET_STATES.filter((s) => counts[s]).map((s) => [label("tstate", s), h("span", { dataset: { state: s } }, counts[s])]),
        ])
      );
      sizeBars(summary);
      // Only what the rollout's status allows: pause while running, resume while paused, cancel
      // until it ended.
      const allowed = { pause: ["running", "quota_exhausted"], resume: ["paused"], cancel: ["running", "paused", "quota_exhausted"] };
      for (const [action, states] of Object.entries(allowed)) {
        const button = document.getElementById(`ro-${action}`);
        if (button) button.hidden = !states.includes(ro.status);
      }
      await loadTargets();
      clearTimeout(rolloutTimer);
      if (["running", "quota_exhausted", "cancelled"].includes(ro.status) && location.hash === `#/rollouts/${id}`) {
        rolloutTimer = setTimeout(refresh, 4000);
      }
    } catch (err) {
      if (!(err instanceof Refused)) showError(err);
    }
  }
  show(
    card(null, summary, h("div", { class: "row" }, control("pause", t("ro.pause"), "secondary"), control("resume", t("ro.resume"), "secondary"), control("cancel", t("ro.cancel"), "danger", () => ({ withdraw: withdraw.checked })), h("label", { class: "row" }, withdraw, h("span", {}, t("ro.withdraw"))))),
    card(t("ro.targets"), h("div", { class: "row" }, stateFilter), targets)
  );
  refresh();
}

// ---- platform health ----------------------------------------------------------------------

function healthView() {
  const health = loading(async () => {
    const r = await get("/admin/health");
    const ticketKind = { fresh: "ok", late: "warn", expired: "bad", missing: "bad" }[r.ticket.state];
    const run = r.last_refresh;
    const failed = run ? Object.entries(run.summary.failed || {}) : [];
    return h(
      "div",
      { class: "grid", id: "health" },
      card(t("health.ticket"), kv([
        [t("mp.status"), badge(label("ticket", r.ticket.state), ticketKind)],
        [t("health.age"), duration(r.ticket.age_secs)],
        [t("detail.when"), when(r.ticket.received_at)],
      ])),
      card(t("health.token"), kv([
        [t("mp.status"), r.component_token.valid ? badge(t("token.valid"), "ok") : badge(t("token.invalid"), "bad")],
        [t("health.expires"), duration(r.component_token.expires_in_secs)],
      ])),
      card(t("health.refresh"), run
        ? kv([
            [t("detail.when"), when(run.finished_at)],
            ["due", run.summary.due],
            ["refreshed", run.summary.refreshed],
            ["reauthorization_required", run.summary.reauthorization_required],
            ["failed", failed.length ? failed.map(([k, v]) => `${k}: ${v}`).join(", ") : badge("0", "ok")],
          ])
        : h("p", { class: "muted" }, t("health.never")))
    );
  });
  const quota = loading(async () => {
    const page = await get("/admin/authorizers", { status: "authorized", limit: 50 });
    const any = (page.authorizers || []).find((a) => a.has_code_management && !a.test_account);
    if (!any) return h("p", { class: "muted" }, t("health.quota_need"));
    return renderValue(await get("/admin/quota", { appid: any.appid }));
  });
  const golive = loading(async () => {
    const r = await get("/admin/go-live");
    return [
      h("p", {}, r.passed ? badge(t("golive.passed"), "ok") : badge(t("golive.not_passed"), "warn")),
      (r.cases || []).length
        ? table(["appid", "case", t("mp.status"), t("detail.when")], r.cases.map((c) => [h("span", { class: "mono" }, c.appid), c.case, badge(c.status, c.status === "passed" ? "ok" : "bad"), when(c.at)]))
        : h("p", { class: "muted" }, t("none")),
    ];
  });
  show(h("h1", {}, t("health.title")), health, h("div", { class: "grid" }, card(t("health.quota"), quota), card(t("health.golive"), golive)));
}

// ---- routing ------------------------------------------------------------------------------

function route() {
  clearTimeout(rolloutTimer);
  translateStatic();
  document.getElementById("lang").textContent = t("lang.other");
  const [path, queryString] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(queryString || "");
  const parts = path.split("/").filter(Boolean);
  const signedIn = Boolean(token());
  document.getElementById("top").hidden = !signedIn;
  if (parts[0] === "refused") return refusedView();
  if (!signedIn || parts[0] === "signin") return signInView();
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.route === (parts[0] === "mp" ? "mini-programs" : parts[0]));
  }
  switch (parts[0]) {
    case "mp":
      return miniProgramView(decodeURIComponent(parts[1] || ""));
    case "templates":
      return templatesView();
    case "rollouts":
      return parts[1] ? rolloutView(decodeURIComponent(parts[1])) : rolloutsView();
    case "health":
      return healthView();
    case "onboardings":
      return parts[1] ? onboardingView(decodeURIComponent(parts[1])) : onboardingsView();
    case "pushes":
      return parts[1] ? pushView(decodeURIComponent(parts[1])) : pushesView(params);
    case "webhooks":
      return parts[1] ? webhookView(decodeURIComponent(parts[1])) : webhooksView();
    default:
      return miniProgramsView(params);
  }
}

document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  clearMessages();
  location.hash = "#/signin";
});
document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language() === "zh" ? "en" : "zh");
  route();
});
window.addEventListener("hashchange", () => {
  clearMessages();
  route();
});
setLanguage(language());
route();
