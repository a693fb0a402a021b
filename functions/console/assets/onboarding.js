// Onboarding pages: a new mini program named, categorized and filed (备案). Each onboarding is a
// timeline of its steps with WeChat's errcode and meaning, what the operator must do next, and the
// fields at fault, which the operator fixes and resubmits here.
import { t } from "/console/i18n.js";
import { Refused, act, badge, card, field, get, h, kv, loading, post, renderValue, show, showError, table, when } from "/console/ui.js";

const STATE_KIND = { ready: "ok", done: "ok", skipped: "", running: "info", waiting: "info", retrying: "warn", needs_operator: "bad", pending: "" };

function stateBadge(state) {
  const label = t(`onb.${state}`);
  return badge(label === `onb.${state}` ? state : label, STATE_KIND[state] || "");
}


function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: ${t("err.json")}`);
  }
}

const EXAMPLE = {
  appid: "wx…",
  profile: {
    nickname: { nick_name: "示例点单助手", license: { file_name: "license.png", content_type: "image/png", base64: "…" } },
    avatar: { file_name: "avatar.png", content_type: "image/png", base64: "…" },
    signature: "门店点单与订单查询",
    categories: [{ first: 287, second: 289 }],
  },
};

export function onboardingsView() {
  const area = h("textarea", { id: "onb-json", spellcheck: "false", rows: 14 });
  area.value = JSON.stringify(EXAMPLE, null, 2);
  const create = async (e) => {
    e.preventDefault();
    let body;
    try {
      body = parseJson(area.value, t("onb.request"));
    } catch (err) {
      showError(err);
      return;
    }
    const r = await act({
      question: t("confirm.generic", { what: `${t("onb.create")} ${body.appid || body.registration_id || ""}` }),
      progress: t("busy.working"),
      call: () => post("/admin/onboardings", body),
    });
    if (r) location.hash = `#/onboardings/${r.onboarding.id}`;
  };
  const list = loading(async () => {
    const { onboardings = [] } = await get("/admin/onboardings");
    if (!onboardings.length) return h("p", { class: "muted" }, t("none"));
    return table(
      ["id", t("mp.appid"), t("mp.status"), t("onb.current"), t("onb.updated")],
      onboardings.map((o) => [
        h("a", { href: `#/onboardings/${o.id}`, class: "mono" }, o.id),
        h("span", { class: "mono" }, o.appid),
        stateBadge(o.state),
        o.current_step ? t(`step.${o.current_step}`) : "—",
        when(o.updated_at),
      ]),
      { id: "onboardings-table" }
    );
  });
  show(
    h("h1", {}, t("nav.onboardings")),
    card(null, list),
    card(
      t("onb.create"),
      h("p", { class: "muted" }, t("onb.create_hint")),
      h("form", { id: "onboarding-form", onsubmit: create }, area, h("button", { type: "submit", id: "onb-create" }, t("onb.create")))
    )
  );
}

let onboardingTimer = null;

export function onboardingView(id) {
  clearTimeout(onboardingTimer);
  const base = `/admin/onboardings/${encodeURIComponent(id)}`;
  const holder = h("div", { id: "onboarding" }, h("p", { class: "muted" }, t("busy.loading")));
  const patch = h("textarea", { id: "onb-patch", spellcheck: "false", rows: 8, placeholder: '{"nickname": {"nick_name": "…", "license": {…}}}' });
  const render = (o) => {
    const steps = h(
      "ol",
      { class: "timeline", id: "onb-steps" },
      (o.steps || []).map((s) =>
        h(
          "li",
          { class: `step ${s.status}`, dataset: { step: s.name, status: s.status } },
          h("div", { class: "row" }, h("strong", {}, t(`step.${s.name}`)), stateBadge(s.status), h("span", { class: "muted" }, when(s.updated_at))),
          s.errcode ? h("p", { class: "errcode" }, t("err.wechat", { errcode: s.errcode, meaning: s.meaning || s.errmsg || "" })) : null,
          s.next ? h("p", { class: "next" }, `${t("onb.next")}: ${s.next}`) : null,
          s.deadline ? h("p", { class: "muted" }, `${t("onb.deadline")}: ${when(s.deadline)}`) : null,
          (s.field_errors || []).length
            ? h("ul", { class: "field-errors" }, s.field_errors.map((f) => h("li", {}, h("span", { class: "mono" }, f.field), ": ", f.message, f.errcode ? ` (${f.errcode})` : "")))
            : null
        )
      )
    );
    const quotas = o.progress && o.progress.quotas;
    holder.replaceChildren(
      h("h1", { id: "onb-title" }, o.appid, " ", stateBadge(o.state)),
      card(null, kv([["id", h("span", { class: "mono" }, o.id)], [t("onb.current"), o.current_step ? t(`step.${o.current_step}`) : "—"], [t("onb.filed"), o.filed ? t("yes") : t("no")], [t("onb.updated"), when(o.updated_at)]])),
      card(t("onb.steps"), steps),
      quotas ? card(t("onb.quotas"), renderValue(quotas)) : null
    );
    // Reviews and the legal person's verification take time: the page reads the onboarding again
    // while it is under way.
    if (o.state !== "ready" && o.state !== "needs_operator" && location.hash === `#/onboardings/${id}`) {
      onboardingTimer = setTimeout(load, 3000);
    }
  };
  const load = () =>
    get(base)
      .then((r) => render(r.onboarding))
      .catch((err) => err instanceof Refused || showError(err));
  const resubmit = async (e) => {
    e.preventDefault();
    let profile;
    try {
      profile = patch.value.trim() ? parseJson(patch.value, t("onb.patch")) : undefined;
    } catch (err) {
      showError(err);
      return;
    }
    const r = await act({
      question: t("confirm.generic", { what: t("onb.resubmit") }),
      call: () => post(`${base}/resubmit`, profile ? { profile } : {}),
    });
    if (r) render(r.onboarding);
  };
  show(
    holder,
    card(
      t("onb.resubmit"),
      h("p", { class: "muted" }, t("onb.resubmit_hint")),
      h("form", { id: "resubmit-form", onsubmit: resubmit }, field(t("onb.patch"), patch), h("button", { type: "submit", id: "onb-resubmit" }, t("onb.resubmit")))
    )
  );
  load();
}
