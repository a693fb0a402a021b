// The gateway's pages: every push WeChat sent (kept and published as an event) and the webhooks
// that carry events to the business's own services.
import { t } from "/console/i18n.js";
import {
  Refused, act, badge, card, del, field, get, h, kv, loading, post, show, showError, table, when,
} from "/console/ui.js";

const PAGE_SIZE = 50;

function whenMs(ms) {
  return ms ? when(Math.floor(ms / 1000)) : "—";
}

const whenSecs = when;

function stateBadge(state) {
  const kind = { delivered: "ok", active: "ok", published: "ok", dead: "bad", failed: "bad", pending: "info", creating: "info", deleting: "warn" }[state] || "";
  return badge(t(`state.${state}`) === `state.${state}` ? state : t(`state.${state}`), kind);
}

// ---- pushes --------------------------------------------------------------------------------

export function pushesView(params) {
  const kind = h("input", { id: "push-kind", value: params.get("kind") || "", placeholder: "message.text", size: 28 });
  const appid = h("input", { id: "push-appid", value: params.get("appid") || "", placeholder: "wx…", size: 22 });
  const go = (extra = {}) => {
    const next = new URLSearchParams({ kind: kind.value.trim(), appid: appid.value.trim(), ...extra });
    for (const [k, v] of [...next]) if (!v) next.delete(k);
    location.hash = `#/pushes?${next}`;
  };
  const filters = h(
    "form",
    { class: "row", onsubmit: (e) => { e.preventDefault(); go(); } },
    field(t("push.kind"), kind),
    field(t("mp.appid"), appid),
    h("button", { type: "submit", id: "push-filter" }, t("mp.filter"))
  );
  const cursor = params.get("cursor") || "";
  const list = loading(async () => {
    const page = await get("/admin/pushes", { kind: params.get("kind"), appid: params.get("appid"), cursor, limit: PAGE_SIZE });
    const rows = (page.pushes || []).map((p) => [
      h("a", { href: `#/pushes/${p.id}`, class: "push-link" }, p.kind),
      h("span", { class: "mono" }, p.appid || "—"),
      whenSecs(p.create_time),
      whenSecs(p.received_at),
    ]);
    const pager = h(
      "div",
      { class: "row pager" },
      cursor ? h("button", { class: "secondary", onclick: () => go() }, t("mp.first")) : null,
      page.cursor ? h("button", { class: "secondary", id: "push-next", onclick: () => go({ cursor: page.cursor }) }, t("mp.next")) : null
    );
    if (!rows.length) return [h("p", { class: "muted", id: "push-empty" }, t("none")), pager];
    return [table([t("push.kind"), t("mp.appid"), t("push.create_time"), t("push.received_at")], rows, { id: "pushes-table" }), pager];
  });
  show(h("h1", {}, t("nav.pushes")), card(null, filters, list));
}

export function pushView(id) {
  show(
    loading(async () => {
      const { push: p } = await get(`/admin/pushes/${encodeURIComponent(id)}`);
      const deliveries = p.deliveries || [];
      return [
        h("h1", { id: "push-title" }, p.kind, " ", stateBadge(p.status)),
        card(
          null,
          kv([
            ["id", h("span", { class: "mono" }, p.id)],
            [t("mp.appid"), h("span", { class: "mono" }, p.appid || "—")],
            [t("push.create_time"), whenSecs(p.create_time)],
            [t("push.received_at"), whenSecs(p.received_at)],
            [t("push.published_at"), whenSecs(p.published_at)],
          ])
        ),
        card(t("push.fields"), h("pre", { class: "mono", id: "push-fields" }, JSON.stringify(p.fields, null, 2))),
        card(t("push.xml"), h("pre", { class: "mono", id: "push-xml" }, p.xml || "—")),
        card(
          t("push.deliveries"),
          deliveries.length
            ? table(
                [t("hook.webhook"), t("ro.state"), t("hook.attempts"), t("hook.last_status"), t("hook.last_error")],
                deliveries.map((d) => [h("a", { href: `#/webhooks/${d.subscription}` }, d.subscription), stateBadge(d.state), d.attempts, d.last_status, d.last_error]),
                { id: "push-deliveries" }
              )
            : h("p", { class: "muted", id: "push-deliveries" }, t("none"))
        ),
      ];
    })
  );
}

// ---- webhooks ------------------------------------------------------------------------------

export function webhooksView() {
  const url = h("input", { id: "hook-url", type: "url", placeholder: "example.com/wechat-events", size: 44, required: true });
  const events = h("input", { id: "hook-events", value: "message.*, event.*", size: 44 });
  const appids = h("input", { id: "hook-appids", placeholder: t("hook.appids_hint"), size: 44 });
  const secretBox = h("div", { id: "hook-secret-box" });
  const split = (text) => text.split(/[\s,]+/).filter(Boolean);
  const create = async (e) => {
    e.preventDefault();
    const body = { url: url.value.trim(), events: split(events.value) };
    if (split(appids.value).length) body.appids = split(appids.value);
    const r = await act({
      question: t("confirm.generic", { what: `${t("hook.create")} ${body.url}` }),
      call: () => post("/admin/webhooks", body),
    });
    if (!r) return;
    // Shown once: the API never answers it again.
    secretBox.replaceChildren(
      h(
        "section",
        { class: "card secret" },
        h("h2", {}, t("hook.secret_title")),
        h("p", {}, t("hook.secret_once")),
        h("pre", { class: "mono", id: "webhook-secret" }, r.secret),
        h("a", { href: `#/webhooks/${r.webhook.id}`, id: "hook-open" }, r.webhook.id)
      )
    );
    list.replaceWith((list = webhookList()));
  };
  let list = webhookList();
  show(
    h("h1", {}, t("nav.webhooks")),
    secretBox,
    card(
      t("hook.create"),
      h(
        "form",
        { id: "webhook-form", onsubmit: create },
        field(t("hook.url"), url),
        field(t("hook.events"), events),
        field(t("hook.appids"), appids),
        h("button", { type: "submit", id: "hook-create" }, t("hook.create"))
      )
    ),
    list
  );
}

function webhookList() {
  return card(
    null,
    loading(async () => {
      const { webhooks = [] } = await get("/admin/webhooks");
      if (!webhooks.length) return h("p", { class: "muted" }, t("none"));
      return table(
        [t("hook.url"), t("hook.events"), t("ro.state"), t("tpl.time")],
        webhooks.map((w) => [
          h("a", { href: `#/webhooks/${w.id}`, class: "hook-link" }, w.url),
          (w.events || []).join(", "),
          stateBadge(w.state),
          whenMs(w.created_at_ms),
        ]),
        { id: "webhooks-table" }
      );
    })
  );
}

let deliveriesTimer = null;

export function webhookView(id) {
  clearTimeout(deliveriesTimer);
  const base = `/admin/webhooks/${encodeURIComponent(id)}`;
  const deliveries = h("div", { id: "hook-deliveries" });
  // Test events sent from this page and not yet listed: the queue's consumer records a delivery
  // when it takes the message, seconds later, so the list is read again until they show.
  const awaited = new Set();
  let polls = 0;
  const loadDeliveries = async () => {
    clearTimeout(deliveriesTimer);
    try {
      const { deliveries: list = [] } = await get(`${base}/deliveries`, { limit: 50 });
      deliveries.replaceChildren(
        list.length
          ? table(
              ["event", t("push.kind"), t("ro.state"), t("hook.attempts"), t("hook.last_status"), t("hook.last_error"), t("detail.when")],
              list.map((d) => [
                h("a", { class: "mono", href: `#/pushes/${d.event_id}` }, d.event_id),
                d.kind,
                stateBadge(d.state),
                d.attempts,
                d.last_status,
                d.last_error,
                whenMs(d.delivered_at_ms || d.last_attempt_at_ms || d.queued_at_ms),
              ]),
              { id: "deliveries-table" }
            )
          : h("p", { class: "muted" }, t("none"))
      );
      for (const d of list) awaited.delete(d.event_id);
      // Deliveries under way are read again until they end (delivered or dead), as is the list
      // while a test event sent from here is not in it yet (for at most a few minutes).
      const underWay = list.some((d) => d.state === "pending") || (awaited.size > 0 && polls < 100);
      if (underWay && location.hash === `#/webhooks/${id}`) {
        polls += 1;
        deliveriesTimer = setTimeout(loadDeliveries, 2000);
      }
    } catch (err) {
      if (!(err instanceof Refused)) showError(err);
    }
  };
  show(
    loading(async () => {
      const { webhook: w } = await get(base);
      return [
        h("h1", { id: "hook-title" }, w.url, " ", stateBadge(w.state)),
        card(
          null,
          kv([
            ["id", h("span", { class: "mono" }, w.id)],
            [t("hook.events"), (w.events || []).join(", ")],
            [t("hook.appids"), (w.appids || []).join(", ") || t("hook.every_appid")],
            [t("detail.who"), w.created_by],
            [t("tpl.time"), whenMs(w.created_at_ms)],
          ]),
          h(
            "div",
            { class: "row" },
            h("button", {
              id: "hook-test",
              onclick: async () => {
                const r = await act({
                  question: t("confirm.generic", { what: t("hook.test") }),
                  call: () => post(`${base}/test`),
                  done: (x) => t("hook.test_sent", { id: x.event_id }),
                });
                if (r) {
                  awaited.add(r.event_id);
                  polls = 0;
                  loadDeliveries();
                }
              },
            }, t("hook.test")),
            h("button", {
              id: "hook-delete",
              class: "danger",
              onclick: async () => {
                const r = await act({ question: t("confirm.generic", { what: `${t("hook.delete")} ${w.url}` }), call: () => del(base) });
                if (r) location.hash = "#/webhooks";
              },
            }, t("hook.delete"))
          )
        ),
        card(t("push.deliveries"), deliveries),
      ];
    })
  );
  loadDeliveries();
}
