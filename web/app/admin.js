// Administration in the web app: users and departments (with CSV import and its per-line error
// report), API keys (the secret shown once), the data tab (backups, retention, legal holds: see
// upkeep.js), the file audit (upkeep.js too, admins only), and the dashboard of the figures
// operators ask for.

import { t } from "./i18n.js";
import { h, mount, api, me, formatDate, showError, toast, confirmAction } from "./ui.js";
import { renderData, renderFileAudit } from "./upkeep.js";
import { icon } from "./icons.js";

const TABS = ["users", "import", "keys", "data", "audit"];

export async function renderAdmin(main, ctx, tab) {
  const body = h("div", { class: "admin-body" });
  mount(main, h("section", { class: "page" },
    h("header", { class: "view-header" },
      h("a", { href: "#/", class: "back icon", "aria-label": t("back") }, icon("back")),
      h("h1", null, t("nav.admin"))),
    h("nav", { class: "tabs", role: "tablist" }, TABS.filter((name) => name !== "audit" || me().role === "admin").map((name) => h("a", {
      href: `#/admin/${name}`, role: "tab", class: name === tab ? "active" : null, "aria-selected": String(name === tab),
    }, t(`admin.tab.${name}`)))),
    body));
  try {
    if (tab === "import") renderImport(body);
    else if (tab === "keys") await renderKeys(body);
    else if (tab === "data") await renderData(body);
    else if (tab === "audit") await renderFileAudit(body);
    else await renderUsers(body);
  } catch (err) {
    mount(body, h("p", { class: "empty" }, err.message));
  }
}

async function renderUsers(body) {
  const [users, departments] = await Promise.all([
    api("GET", "/v1/users"),
    api("GET", "/v1/departments").catch(() => []),
  ]);
  const email = h("input", { id: "new-email", type: "email", required: true });
  const name = h("input", { id: "new-name", required: true });
  const role = h("select", { id: "new-role" }, ["member", "guest", "dept_admin", "admin"].map((r) => h("option", { value: r }, t(`role.${r}`))));
  const department = h("input", { id: "new-department", list: "department-paths", placeholder: "总部/研发部" });
  const password = h("input", { id: "new-password", type: "password", minlength: 8, autocomplete: "new-password" });
  const form = h("form", {
    class: "grid-form",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("POST", "/v1/users", {
          email: email.value.trim(), name: name.value.trim(), role: role.value,
          department: department.value.trim() || undefined, password: password.value || undefined,
        });
        toast(t("admin.userCreated"));
        await renderUsers(body);
      } catch (err) {
        showError(err);
      }
    },
  },
    h("label", { for: "new-email" }, t("admin.email")), email,
    h("label", { for: "new-name" }, t("admin.name")), name,
    h("label", { for: "new-role" }, t("admin.role")), role,
    h("label", { for: "new-department" }, t("admin.department")), department,
    h("label", { for: "new-password" }, t("admin.password")), password,
    h("datalist", { id: "department-paths" }, departments.map((d) => h("option", { value: d.path }))),
    h("button", { type: "submit", class: "primary" }, t("admin.createUser")));
  mount(body,
    h("h2", null, t("admin.newUser")), form,
    h("h2", null, t("admin.users", { n: users.length })),
    h("div", { class: "table-wrap" }, h("table", null,
      h("thead", null, h("tr", null, ["name", "email", "role", "department", "status"].map((c) => h("th", null, t(`admin.${c}`))))),
      h("tbody", null, users.map((u) => h("tr", null,
        h("td", null, u.name), h("td", null, u.email), h("td", null, t(`role.${u.role}`)),
        h("td", null, u.department_path || "–"),
        h("td", null, u.id === me().id ? t("admin.you") : h("button", {
          class: "small",
          onclick: async () => {
            try {
              await api("PATCH", `/v1/users/${u.id}`, { disabled: !u.disabled });
              await renderUsers(body);
            } catch (err) {
              showError(err);
            }
          },
        }, u.disabled ? t("admin.enable") : t("admin.disable")))))))));
}

function renderImport(body) {
  const file = h("input", { id: "import-file", type: "file", accept: ".csv,text/csv" });
  const report = h("div", { class: "import-report", role: "status" });
  mount(body,
    h("p", null, t("admin.importExplain")),
    h("pre", { class: "sample" }, "name,email,department,role\n李娜,li.na@example.cn,总部/研发部,member\nTom Lee,tom@example.com,HQ/Sales,dept_admin"),
    h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        if (!file.files.length) return;
        const text = await file.files[0].text();
        try {
          const r = await api("POST", "/v1/admin/import", null, { raw: text, contentType: "text/csv" });
          mount(report, h("p", { class: "ok" }, t("admin.imported", {
            users: (r.users_created || 0) + (r.users_updated || 0), departments: r.departments_created || 0,
          })), h("pre", null, JSON.stringify(r, null, 2)));
        } catch (err) {
          mount(report, h("p", { class: "form-error" }, err.message),
            err.details.length ? h("table", { class: "errors" },
              h("thead", null, h("tr", null, h("th", null, t("admin.line")), h("th", null, t("admin.problem")))),
              h("tbody", null, err.details.map((d) => h("tr", null, h("td", null, d.line), h("td", null, d.reason))))) : null);
        }
      },
    }, h("label", { for: "import-file" }, t("admin.importFile")), file,
      h("button", { type: "submit", class: "primary" }, t("admin.import"))),
    report);
}

async function renderKeys(body) {
  const keys = await api("GET", "/v1/admin/api-keys");
  const name = h("input", { id: "key-name", required: true, placeholder: "crm" });
  const secret = h("div", { class: "secret", role: "status" });
  mount(body,
    h("form", {
      class: "inline-form",
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const key = await api("POST", "/v1/admin/api-keys", { name: name.value.trim() });
          await renderKeys(body);
          body.prepend(h("div", { class: "secret" },
            h("p", null, t("admin.secretOnce")),
            h("code", null, `${key.key}  ${key.secret}`)));
        } catch (err) {
          showError(err);
        }
      },
    }, h("label", { for: "key-name" }, t("admin.keyName")), name, h("button", { type: "submit", class: "primary" }, t("admin.createKey"))),
    secret,
    h("div", { class: "table-wrap" }, h("table", null,
      h("thead", null, h("tr", null, h("th", null, t("admin.key")), h("th", null, t("admin.name")), h("th", null, t("admin.created")), h("th", null, ""))),
      h("tbody", null, keys.map((k) => h("tr", { class: k.revoked ? "revoked" : null },
        h("td", null, h("code", null, k.key)), h("td", null, k.name), h("td", null, formatDate(k.created_at)),
        h("td", null, k.revoked ? t("admin.revoked") : h("button", {
          class: "small danger",
          onclick: async () => {
            if (!(await confirmAction(t("admin.revoke"), t("admin.revokeConfirm", { name: k.name }), t("admin.revoke")))) return;
            try {
              await api("DELETE", `/v1/admin/api-keys/${encodeURIComponent(k.key)}`);
              await renderKeys(body);
            } catch (err) {
              showError(err);
            }
          },
        }, t("admin.revoke")))))))));
}

// --- The dashboard ----------------------------------------------------------------------------

export async function renderDashboard(main) {
  const body = h("div", { class: "dashboard" });
  const days = h("select", { id: "dash-days", "aria-label": t("dash.period") },
    [7, 28, 90].map((n) => h("option", { value: n, selected: n === 28 }, t("dash.lastDays", { n }))));
  mount(main, h("section", { class: "page" },
    h("header", { class: "view-header" },
      h("a", { href: "#/", class: "back icon", "aria-label": t("back") }, icon("back")),
      h("h1", null, t("nav.dashboard")), days), body));
  const load = async () => {
    try {
      // Days begin where the viewer is: UTC+8 in Beijing.
      const offset = -new Date().getTimezoneOffset();
      const s = await api("GET", `/v1/admin/stats?days=${days.value}&utc_offset_minutes=${offset}`);
      drawDashboard(body, s);
    } catch (err) {
      mount(body, h("p", { class: "empty" }, err.message));
    }
  };
  days.onchange = load;
  await load();
}

const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);

function drawDashboard(body, s) {
  const lastWeek = s.weeks[s.weeks.length - 1] || {};
  const lastDay = s.days[s.days.length - 1] || {};
  const card = (label, value, key) => h("div", { class: "stat", dataset: { stat: key } },
    h("span", { class: "stat-value" }, value), h("span", { class: "stat-label" }, label));
  mount(body,
    h("div", { class: "stats" },
      card(t("dash.dau"), lastDay.active_users ?? 0, "dau"),
      card(t("dash.wau"), lastWeek.active_users ?? 0, "wau"),
      card(t("dash.messagesToday"), lastDay.messages ?? 0, "messages"),
      card(t("dash.medianResponse"), s.median_response_secs === null ? "–" : formatDuration(s.median_response_secs), "response"),
      card(t("dash.taskCompletion"), pct(s.tasks.completion_rate), "completion"),
      card(t("dash.taskOverdue"), pct(s.tasks.overdue_rate), "overdue")),
    h("h2", null, t("dash.activeUsers")),
    bars(s.days.map((d) => [d.date.slice(5), d.active_users])),
    h("h2", null, t("dash.messagesPerDay")),
    bars(s.days.map((d) => [d.date.slice(5), d.messages])),
    h("h2", null, t("dash.weekly")),
    h("div", { class: "table-wrap" }, h("table", null,
      h("thead", null, h("tr", null, ["week", "wau", "messages", "meetings", "minutes", "recordings"].map((c) => h("th", null, t(`dash.col.${c}`))))),
      h("tbody", null, s.weeks.map((w) => h("tr", null,
        h("td", null, w.week_start), h("td", null, w.active_users), h("td", null, w.messages),
        h("td", null, w.meetings), h("td", null, w.minutes_published), h("td", null, w.recordings)))))),
    h("h2", null, t("dash.announcements")),
    s.announcements.length ? h("div", { class: "table-wrap" }, h("table", null,
      h("thead", null, h("tr", null, ["channel", "sent", "read", "rate"].map((c) => h("th", null, t(`dash.col.${c}`))))),
      h("tbody", null, s.announcements.map((a) => h("tr", null,
        h("td", null, a.channel_name), h("td", null, formatDate(a.created_at)),
        h("td", null, `${a.read} / ${a.members}`),
        h("td", null, h("span", { class: "meter" }, h("span", { style: `width:${Math.round((a.read_rate || 0) * 100)}%` })), " ", pct(a.read_rate)))))))
      : h("p", { class: "muted" }, t("dash.noAnnouncements")),
    h("h2", null, t("dash.tasks")),
    h("p", null, t("dash.taskLine", { open: s.tasks.open, done: s.tasks.done, overdue: s.tasks.overdue })));
}

function formatDuration(secs) {
  if (secs < 1) return "< 1 s";
  if (secs < 90) return `${Math.round(secs)} s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  return `${(secs / 3600).toFixed(1)} h`;
}

/**
 * A bar chart as SVG: one bar per day, labelled every few days. The labels stay inside the
 * frame: there is room for half a label either side of the bars, the first label starts at its
 * bar and the last ends at its bar. A narrow screen (a phone) gets fewer, larger labels, since
 * the whole drawing is scaled down to fit.
 */
function bars(points) {
  const narrow = window.matchMedia("(max-width: 720px)").matches;
  const width = 640;
  const height = 140;
  const pad = 16;
  const fontSize = narrow ? 22 : 11;
  const maxLabels = narrow ? 4 : 10;
  const max = Math.max(1, ...points.map(([, v]) => v));
  const w = (width - 2 * pad) / Math.max(points.length, 1);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + fontSize + 8}`);
  svg.setAttribute("class", narrow ? "chart narrow" : "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", points.map(([label, v]) => `${label}: ${v}`).join(", "));
  const every = Math.max(1, Math.ceil(points.length / maxLabels));
  const last = points.length - 1;
  points.forEach(([label, v], i) => {
    const bh = (v / max) * (height - 14);
    const x = pad + i * w;
    const rect = document.createElementNS(svg.namespaceURI, "rect");
    rect.setAttribute("x", String(x + 1));
    rect.setAttribute("y", String(height - bh));
    rect.setAttribute("width", String(Math.max(1, w - 2)));
    rect.setAttribute("height", String(bh));
    const title = document.createElementNS(svg.namespaceURI, "title");
    title.textContent = `${label}: ${v}`;
    rect.append(title);
    svg.append(rect);
    // Every few days from the last one (today), which is always labelled.
    if ((last - i) % every === 0) {
      const text = document.createElementNS(svg.namespaceURI, "text");
      const anchor = i === 0 ? "start" : i === last ? "end" : "middle";
      const tx = anchor === "start" ? x : anchor === "end" ? x + w : x + w / 2;
      text.setAttribute("x", String(tx));
      text.setAttribute("y", String(height + fontSize + 2));
      text.setAttribute("text-anchor", anchor);
      text.setAttribute("font-size", String(fontSize));
      text.textContent = label;
      svg.append(text);
    }
  });
  return svg;
}
