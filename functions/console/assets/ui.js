// What every page of the console shares: building the DOM (never from HTML strings, so no value
// the API answers becomes markup), messages and progress, confirmation, and the admin API with
// the token from sessionStorage.
import { t, language } from "/console/i18n.js";

export const TOKEN_KEY = "console.admin_token";
export const app = document.getElementById("app");

// ---- DOM helpers --------------------------------------------------------------------------

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function show(...nodes) {
  app.replaceChildren(...nodes);
}

export function card(title, ...body) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...body);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

export function field(label, input) {
  return h("label", {}, h("span", {}, label), input);
}

export function table(headers, rows, attrs = {}) {
  return h(
    "table",
    { class: "responsive", ...attrs },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h("tr", {}, cells.map((c, i) => h("td", { "data-label": headers[i] }, c ?? "—")))
      )
    )
  );
}

export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

export function when(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleString(language() === "zh" ? "zh-CN" : "en-GB");
}

export function duration(secs) {
  if (secs === null || secs === undefined) return "—";
  const s = Math.max(0, Math.round(secs));
  if (s < 120) return t("secs", { n: s });
  if (s < 7200) return t("mins", { n: Math.round(s / 60) });
  if (s < 172800) return t("hours", { n: Math.round(s / 3600) });
  return t("days", { n: Math.round(s / 86400) });
}

// ---- messages, progress, confirmation ---------------------------------------------------

const errorBox = document.getElementById("error");
const noticeBox = document.getElementById("notice");
const busyBox = document.getElementById("busy");
let busyCount = 0;

export function clearMessages() {
  errorBox.hidden = true;
  noticeBox.hidden = true;
}

// Each message shown is counted on <body data-messages>, so a reader (a person's eye, or a test)
// can tell a new one from the one before.
export function countMessage() {
  document.body.dataset.messages = String(Number(document.body.dataset.messages || 0) + 1);
}

export function notice(text) {
  countMessage();
  errorBox.hidden = true;
  noticeBox.textContent = text;
  noticeBox.hidden = false;
}

// The admin API's error answer in words: its message, the field and rule, WeChat's errcode with
// its meaning. Never the raw JSON.
export function describeError(err) {
  if (err instanceof ApiError) {
    const body = err.body || {};
    const lines = [];
    if (body.request_id || (err.status >= 500 && !body.errcode)) {
      if (body.message) lines.push(body.message);
      lines.push(t("err.server", { id: body.request_id || "—" }));
    } else if (body.message) {
      lines.push(body.message);
    } else {
      lines.push(t("err.unknown", { status: err.status }));
    }
    if (body.field && body.rule) lines.push(t("err.field", { field: body.field, rule: body.rule }));
    // The message names the errcode already; the reference's meaning is added when it knows one.
    if (body.errcode !== undefined && body.errcode !== null && body.meaning) {
      lines.push(t("err.wechat", { errcode: body.errcode, meaning: body.meaning }));
    }
    if (Array.isArray(body.missing_keys) && body.missing_keys.length) lines.push(body.missing_keys.join(", "));
    return lines.join("\n");
  }
  if (err instanceof TypeError) return t("err.network");
  return String(err && err.message ? err.message : err);
}

export function showError(err) {
  countMessage();
  noticeBox.hidden = true;
  errorBox.textContent = `${t("err.prefix")}: ${describeError(err)}`;
  errorBox.hidden = false;
}

export async function busy(text, work) {
  busyCount += 1;
  document.getElementById("busy-text").textContent = text;
  busyBox.hidden = false;
  const buttons = [...app.querySelectorAll("button:not([disabled])")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    return await work();
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    busyCount -= 1;
    if (busyCount === 0) busyBox.hidden = true;
  }
}

export function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "no";
    dialog.showModal();
  });
}

// A state-changing call: asked first, shown in progress, its result or error in words.
export async function act({ question, progress, call, done }) {
  clearMessages();
  if (question && !(await confirmAction(question))) return null;
  try {
    const result = await busy(progress || t("busy.working"), call);
    notice(done ? done(result) : t("done.ok"));
    return result;
  } catch (err) {
    if (!(err instanceof Refused)) showError(err);
    return null;
  }
}

// ---- the admin API ------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}
export class Refused extends Error {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export async function api(method, path, { query, body, blob } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    location.hash = "#/refused";
    throw new Refused();
  }
  if (response.ok && blob) return response.blob();
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body = {}) => api("POST", path, { body });
export const put = (path, body) => api("PUT", path, { body });
export const del = (path) => api("DELETE", path);
export const mp = (appid, rest = "") => `/admin/authorizers/${encodeURIComponent(appid)}${rest}`;

// A view section that loads itself: shows progress, then its content or the error in words.
export function loading(render) {
  const box = h("div", {}, h("p", { class: "muted" }, t("busy.loading")));
  Promise.resolve()
    .then(render)
    .then((content) => box.replaceChildren(...[content].flat()))
    .catch((err) => {
      if (err instanceof Refused) return;
      box.replaceChildren(h("p", { class: "error-inline", role: "alert" }, describeError(err)));
    });
  return box;
}

// A JSON value as nested definition lists: WeChat's answers vary by endpoint; every field is shown.
export function renderValue(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) {
    if (!value.length) return t("none");
    return h("ol", {}, value.map((v) => h("li", {}, renderValue(v))));
  }
  if (typeof value === "object") {
    return kv(Object.entries(value).map(([k, v]) => [k, renderValue(v)]));
  }
  return String(value);
}
