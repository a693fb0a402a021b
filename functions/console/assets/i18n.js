// Labels in Chinese (the operators' language, the default) and English. `t(key, vars)` fills
// `{name}` placeholders; a key without a label shows itself, so a missing one is visible.
const zh = {
  "nav.pushes": "消息推送", "nav.webhooks": "Webhook",
  "push.kind": "类型", "push.create_time": "微信时间", "push.received_at": "收到时间", "push.published_at": "发布时间",
  "push.fields": "解析后的字段", "push.xml": "解密后的 XML", "push.deliveries": "投递记录",
  "hook.create": "新建 Webhook", "hook.url": "地址 (https)", "hook.events": "事件 (如 message.*, event.subscribe_msg_popup_event)",
  "hook.appids": "只要这些小程序 (appid，可留空)", "hook.appids_hint": "留空 = 全部小程序", "hook.every_appid": "全部小程序",
  "hook.secret_title": "签名密钥", "hook.secret_once": "只显示这一次：现在复制并保存到接收方。之后无法再查看。",
  "hook.webhook": "Webhook", "hook.attempts": "尝试次数", "hook.last_status": "最近状态码", "hook.last_error": "最近错误",
  "hook.test": "发送测试事件", "hook.test_sent": "测试事件 {id} 已进入投递队列。", "hook.delete": "删除",
  "state.delivered": "已投递", "state.pending": "投递中", "state.dead": "已放弃", "state.active": "生效", "state.creating": "创建中", "state.deleting": "删除中",
  "state.published": "已发布", "state.stored": "已保存",
  brand: "第三方平台控制台",
  "nav.mini_programs": "小程序", "nav.templates": "模板库", "nav.rollouts": "批量发布", "nav.health": "平台状态",
  signout: "退出", "lang.other": "English", cancel: "取消", confirm: "确定",
  "signin.title": "登录控制台", "signin.token": "管理员令牌 (Admin token)", "signin.submit": "登录",
  "signin.hint": "令牌只保存在本标签页 (sessionStorage)，关闭即清除。",
  "refused.title": "令牌被拒绝", "refused.text": "管理 API 不接受这个令牌：可能已失效、被撤销或输入有误。", "refused.again": "重新登录",
  "mp.title": "已授权的小程序", "mp.search": "搜索 appid 或名称", "mp.all": "全部状态", "mp.filter": "筛选",
  "mp.name": "名称", "mp.appid": "AppID", "mp.status": "状态", "mp.set18": "权限集 18", "mp.version": "最近提交",
  "mp.review": "最近审核", "mp.none": "没有符合条件的小程序。", "mp.next": "下一页", "mp.first": "第一页", "mp.authorize": "授权新的小程序",
  "status.authorized": "已授权", "status.unauthorized": "已取消授权", "status.reauthorization_required": "需重新授权", "status.test_account": "测试账号",
  "set18.yes": "已授予", "set18.no": "缺少",
  "audit.pending": "审核中", "audit.delayed": "审核延后", "audit.passed": "审核通过", "audit.rejected": "审核被拒", "audit.withdrawn": "已撤回", "audit.released": "已发布",
  "detail.info": "基本信息", "detail.principal": "主体", "detail.authorized_at": "授权时间", "detail.sets": "权限集",
  "detail.code": "代码", "detail.commit": "提交代码", "detail.template": "模板", "detail.user_version": "版本号", "detail.user_desc": "版本描述",
  "detail.privacy_default": "缺少隐私指引时使用平台默认指引", "detail.qrcode": "体验版二维码", "detail.show_qr": "显示二维码",
  "detail.readiness": "提审前检查", "readiness.ready": "可以提交审核", "readiness.not_ready": "还不能提交审核", "detail.check": "检查", "detail.submit": "提交审核", "detail.undo": "撤回审核", "detail.speedup": "加急审核",
  "detail.release": "发布", "detail.gray": "分阶段发布", "detail.gray_percentage": "灰度百分比", "detail.gray_start": "开始灰度",
  "detail.gray_cancel": "取消灰度", "detail.revert": "版本回退", "detail.visit": "服务状态", "detail.visit_open": "开启服务", "detail.visit_close": "暂停服务",
  "detail.versions": "版本", "detail.load": "读取", "detail.ext": "扩展配置 (ext)", "detail.save": "保存",
  "detail.domains": "服务器域名", "detail.webview": "业务域名", "detail.domains_get": "读取当前", "detail.domains_set": "设置为", "detail.one_per_line": "每行一个域名",
  "detail.testers": "体验者", "detail.tester_bind": "绑定", "detail.tester_unbind": "解绑", "detail.wechatid": "微信号",
  "detail.reviews": "审核记录", "detail.reason": "原因", "detail.screenshot": "截图", "detail.show_screenshots": "查看 {n} 张截图", "detail.submitted_at": "提交时间", "detail.result_at": "结果时间",
  "detail.actions": "操作记录", "detail.when": "时间", "detail.who": "操作人", "detail.action": "操作", "detail.outcome": "结果",
  "tpl.drafts": "草稿箱", "tpl.library": "模板库", "tpl.add": "加入模板库", "tpl.delete": "删除", "tpl.id": "ID", "tpl.version": "版本", "tpl.desc": "描述", "tpl.time": "时间", "tpl.none": "没有记录。",
  "ro.title": "批量发布", "ro.new": "新建批量发布", "ro.name": "名称", "ro.targets": "目标", "ro.targets_all": "全部可用的小程序", "ro.targets_list": "指定 appid (每行一个)",
  "ro.release": "发布方式", "ro.manual": "审核通过后手动发布", "ro.auto": "审核通过后自动发布", "ro.gray": "分阶段 (百分比, 如 10,50,100)",
  "ro.preview": "预览目标", "ro.create": "创建", "ro.count": "目标数", "ro.progress": "进度", "ro.pause": "暂停", "ro.resume": "继续", "ro.cancel": "取消发布",
  "ro.withdraw": "取消时撤回审核中的版本", "ro.retry": "重试", "ro.state": "状态", "ro.none": "还没有批量发布。", "ro.remaining": "剩余",
  "health.title": "平台状态", "health.ticket": "验证票据 (component_verify_ticket)", "health.token": "第三方平台令牌 (component_access_token)",
  "health.refresh": "最近一次令牌刷新", "health.quota": "审核额度", "health.golive": "全网发布检测", "health.age": "距今", "health.expires": "剩余有效期",
  "health.never": "还没有运行过", "health.quota_need": "需要一个已授权的小程序才能查询。",
  "confirm.submit": "把 {appid} 的体验版提交审核？", "confirm.undo": "撤回 {appid} 审核中的版本？(每天可撤回一次)", "confirm.release": "把 {appid} 审核通过的版本发布上线？",
  "confirm.revert": "把 {appid} 回退到上一个线上版本？", "confirm.commit": "把模板 {template} 以版本 {version} 提交到 {appid}？", "confirm.gray": "对 {appid} 开始 {pct}% 的分阶段发布？",
  "confirm.generic": "确定执行“{what}”？", "confirm.rollout": "对 {count} 个小程序创建批量发布？",
  "busy.loading": "加载中…", "busy.working": "处理中…", "busy.submit": "提交审核中：等待隐私接口检测，最长约 20 秒…", "busy.commit": "提交代码中…",
  "done.ok": "完成。", "done.submitted": "已提交审核，审核单号 {auditid}。",
  "err.prefix": "出错了", "err.field": "字段 {field}：{rule}", "err.wechat": "微信返回 {errcode}：{meaning}", "err.network": "无法连接管理 API，请检查网络后重试。",
  "err.server": "平台内部错误 (请求号 {id})，详情已写入日志。", "err.unknown": "未知错误 (HTTP {status})。", "err.json": "不是合法的 JSON。",
  yes: "是", no: "否", none: "无", secs: "{n} 秒", mins: "{n} 分钟", hours: "{n} 小时", days: "{n} 天", ago: "{t}前",
};
const en = {
  "nav.pushes": "Pushes", "nav.webhooks": "Webhooks",
  "push.kind": "Kind", "push.create_time": "WeChat time", "push.received_at": "Received", "push.published_at": "Published",
  "push.fields": "Parsed fields", "push.xml": "Decrypted XML", "push.deliveries": "Deliveries",
  "hook.create": "New webhook", "hook.url": "URL (https)", "hook.events": "Events (e.g. message.*, event.subscribe_msg_popup_event)",
  "hook.appids": "Only these mini programs (appids, optional)", "hook.appids_hint": "empty = every mini program", "hook.every_appid": "every mini program",
  "hook.secret_title": "Signing secret", "hook.secret_once": "Shown this once: copy it to the receiver now. It cannot be read again.",
  "hook.webhook": "Webhook", "hook.attempts": "Attempts", "hook.last_status": "Last status", "hook.last_error": "Last error",
  "hook.test": "Send a test event", "hook.test_sent": "Test event {id} is on the delivery queue.", "hook.delete": "Delete",
  "state.delivered": "delivered", "state.pending": "pending", "state.dead": "dead", "state.active": "active", "state.creating": "creating", "state.deleting": "deleting",
  "state.published": "published", "state.stored": "stored",
  brand: "Platform console",
  "nav.mini_programs": "Mini programs", "nav.templates": "Templates", "nav.rollouts": "Rollouts", "nav.health": "Health",
  signout: "Sign out", "lang.other": "中文", cancel: "Cancel", confirm: "Confirm",
  "signin.title": "Sign in", "signin.token": "Admin token", "signin.submit": "Sign in",
  "signin.hint": "The token is kept in this tab only (sessionStorage) and is gone when it closes.",
  "refused.title": "Token refused", "refused.text": "The admin API does not accept this token: it may have expired, been revoked or mistyped.", "refused.again": "Sign in again",
  "mp.title": "Authorized mini programs", "mp.search": "Search appid or name", "mp.all": "All states", "mp.filter": "Filter",
  "mp.name": "Name", "mp.appid": "AppID", "mp.status": "Status", "mp.set18": "Set 18", "mp.version": "Last commit",
  "mp.review": "Latest review", "mp.none": "No mini program matches.", "mp.next": "Next page", "mp.first": "First page", "mp.authorize": "Authorize a mini program",
  "status.authorized": "Authorized", "status.unauthorized": "Unauthorized", "status.reauthorization_required": "Reauthorization required", "status.test_account": "Test account",
  "set18.yes": "Granted", "set18.no": "Missing",
  "audit.pending": "Under review", "audit.delayed": "Review delayed", "audit.passed": "Passed", "audit.rejected": "Rejected", "audit.withdrawn": "Withdrawn", "audit.released": "Released",
  "detail.info": "Details", "detail.principal": "Principal", "detail.authorized_at": "Authorized at", "detail.sets": "Permission sets",
  "detail.code": "Code", "detail.commit": "Commit", "detail.template": "Template", "detail.user_version": "Version", "detail.user_desc": "Description",
  "detail.privacy_default": "Apply the platform's default privacy guideline where missing", "detail.qrcode": "Trial QR code", "detail.show_qr": "Show QR code",
  "detail.readiness": "Review readiness", "readiness.ready": "Ready for review", "readiness.not_ready": "Not ready for review", "detail.check": "Check", "detail.submit": "Submit for review", "detail.undo": "Withdraw review", "detail.speedup": "Speed up review",
  "detail.release": "Release", "detail.gray": "Gray release", "detail.gray_percentage": "Gray percentage", "detail.gray_start": "Start gray release",
  "detail.gray_cancel": "Cancel gray release", "detail.revert": "Revert release", "detail.visit": "Visit status", "detail.visit_open": "Open", "detail.visit_close": "Close",
  "detail.versions": "Versions", "detail.load": "Load", "detail.ext": "Ext settings", "detail.save": "Save",
  "detail.domains": "Server domains", "detail.webview": "Web-view domains", "detail.domains_get": "Read current", "detail.domains_set": "Set to", "detail.one_per_line": "one domain per line",
  "detail.testers": "Testers", "detail.tester_bind": "Bind", "detail.tester_unbind": "Unbind", "detail.wechatid": "WeChat id",
  "detail.reviews": "Reviews", "detail.reason": "Reason", "detail.screenshot": "Screenshots", "detail.show_screenshots": "Show {n} screenshots", "detail.submitted_at": "Submitted", "detail.result_at": "Result",
  "detail.actions": "Action log", "detail.when": "When", "detail.who": "By", "detail.action": "Action", "detail.outcome": "Outcome",
  "tpl.drafts": "Drafts", "tpl.library": "Library", "tpl.add": "Add to library", "tpl.delete": "Delete", "tpl.id": "ID", "tpl.version": "Version", "tpl.desc": "Description", "tpl.time": "Time", "tpl.none": "Nothing here.",
  "ro.title": "Rollouts", "ro.new": "New rollout", "ro.name": "Name", "ro.targets": "Targets", "ro.targets_all": "Every eligible mini program", "ro.targets_list": "These appids (one per line)",
  "ro.release": "Release", "ro.manual": "Stop when passed (release by hand)", "ro.auto": "Release when passed", "ro.gray": "Gray steps (percentages, e.g. 10,50,100)",
  "ro.preview": "Preview targets", "ro.create": "Create", "ro.count": "Targets", "ro.progress": "Progress", "ro.pause": "Pause", "ro.resume": "Resume", "ro.cancel": "Cancel rollout",
  "ro.withdraw": "Withdraw reviews under way when cancelling", "ro.retry": "Retry", "ro.state": "State", "ro.none": "No rollout yet.", "ro.remaining": "Remaining",
  "health.title": "Platform health", "health.ticket": "Verify ticket (component_verify_ticket)", "health.token": "Component token (component_access_token)",
  "health.refresh": "Last token refresh", "health.quota": "Review quota", "health.golive": "Go-live check", "health.age": "Age", "health.expires": "Expires in",
  "health.never": "Not run yet", "health.quota_need": "Needs an authorized mini program to ask.",
  "confirm.submit": "Submit the trial version of {appid} for review?", "confirm.undo": "Withdraw the review of {appid}? (once a day)", "confirm.release": "Release the passed version of {appid}?",
  "confirm.revert": "Revert {appid} to its previous release?", "confirm.commit": "Commit template {template} as version {version} to {appid}?", "confirm.gray": "Start a {pct}% gray release of {appid}?",
  "confirm.generic": "Do \u201c{what}\u201d?", "confirm.rollout": "Create a rollout to {count} mini programs?",
  "busy.loading": "Loading…", "busy.working": "Working…", "busy.submit": "Submitting: waiting for the privacy scan, up to about 20 s…", "busy.commit": "Committing…",
  "done.ok": "Done.", "done.submitted": "Submitted for review, audit id {auditid}.",
  "err.prefix": "Error", "err.field": "Field {field}: {rule}", "err.wechat": "WeChat answered {errcode}: {meaning}", "err.network": "The admin API cannot be reached; check the network and try again.",
  "err.server": "Internal error (request {id}); the details are in the logs.", "err.unknown": "Unknown error (HTTP {status}).", "err.json": "Not valid JSON.",
  yes: "yes", no: "no", none: "none", secs: "{n} s", mins: "{n} min", hours: "{n} h", days: "{n} d", ago: "{t} ago",
};

const LABELS = { zh, en };
let lang = localStorage.getItem("console.lang") === "en" ? "en" : "zh";

export function language() { return lang; }

export function setLanguage(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem("console.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function t(key, vars = {}) {
  const text = LABELS[lang][key] ?? LABELS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// Fills every element's `data-i18n` label (the static parts of the page).
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}
