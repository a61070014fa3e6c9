// Administration → Data: the scheduled backups (the last one, a failure in red until the next
// success), retention (the organisation's, each channel's, the last pass, a pass on demand) and
// legal holds (placed on a channel or a person, lifted). Administration → File audit: who
// uploaded, downloaded, deleted, locked or shared what in the library, newest first, 100 at a
// time ("Load more" asks for the entries before the oldest shown); admins only.

import { t } from "./i18n.js";
import { h, mount, api, formatDate, showError, toast, confirmAction } from "./ui.js";
import { icon } from "./icons.js";

/** 10954403840 → "10.2 GiB". */
function size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

const days = (n) => (n > 0 ? t("data.days", { n }) : t("data.forever"));

export async function renderData(body) {
  const [backups, retention, holds, users, channels] = await Promise.all([
    api("GET", "/v1/admin/backups"),
    api("GET", "/v1/admin/retention"),
    api("GET", "/v1/admin/legal-holds"),
    api("GET", "/v1/users"),
    api("GET", "/v1/admin/channels"),
  ]);
  const userName = new Map(users.map((u) => [u.id, u.name]));
  const channelName = new Map(channels.map((c) => [c.id, c.name]));
  for (const c of retention.channels) channelName.set(c.channel_id, c.name);
  const again = () => renderData(body).catch(showError);
  mount(body,
    h("h2", null, t("data.backups")), backupPanel(backups),
    h("h2", null, t("data.retention")), retentionPanel(retention, channels, channelName, again),
    h("h2", null, t("data.holds")), holdsPanel(holds, users, channels, userName, channelName, again));
}

function backupPanel(b) {
  if (!b.scheduled) return h("p", { class: "muted", dataset: { backup: "off" } }, t("data.backupsOff"));
  const last = b.last_success;
  return h("div", { class: "backup-status" },
    b.last_failure ? h("div", { class: "alert", role: "alert", dataset: { backup: "failed" } },
      h("strong", null, t("data.backupFailed", { at: formatDate(b.last_failure.at) })), " ", b.last_failure.error) : null,
    b.error ? h("p", { class: "form-error" }, b.error) : null,
    h("p", { dataset: { backup: last ? "ok" : "none" } }, last
      ? t("data.lastBackup", { at: formatDate(last.finished_at), size: size(last.bytes), rows: last.rows, secs: Math.round((last.finished_at - last.started_at) / 1000) })
      : t("data.noBackup")),
    h("p", { class: "muted" }, t("data.backupPlan", { to: b.to, keep: b.keep, next: b.next_at ? formatDate(b.next_at) : "–" })),
    b.backups.length ? h("div", { class: "table-wrap" }, h("table", null,
      h("thead", null, h("tr", null, ["backup", "finished", "size", "rows", "key"].map((c) => h("th", null, t(`data.col.${c}`))))),
      h("tbody", null, b.backups.map((x) => h("tr", null,
        h("td", null, h("code", null, x.id)), h("td", null, formatDate(x.finished_at)),
        h("td", null, size(x.bytes)), h("td", null, x.rows),
        h("td", null, x.key_id ? h("code", null, x.key_id) : t("data.notEncrypted"))))))) : null);
}

function retentionPanel(r, channels, channelName, again) {
  const run = r.last_run;
  const channel = h("select", { id: "retention-channel" }, channels.map((c) => h("option", { value: c.id }, c.name)));
  const count = h("input", { id: "retention-days", type: "number", min: 0, max: 36500, required: true, placeholder: "90" });
  return h("div", { class: "retention" },
    h("p", null, t("data.retentionLine", { messages: days(r.messages_days), recordings: days(r.recordings_days) })),
    r.channels.length ? h("ul", { class: "retention-channels" }, r.channels.map((c) =>
      h("li", null, t("data.channelRetention", { channel: channelName.get(c.channel_id) || `#${c.channel_id}`, days: days(c.retention_days) })))) : null,
    h("p", { class: "muted", dataset: { retention: "last" } }, run
      ? t("data.lastPass", { at: formatDate(run.finished_at), messages: run.messages_deleted, recordings: run.recordings_deleted })
      : t("data.noPass", { mins: Math.round(r.every_secs / 60) })),
    run && run.error ? h("p", { class: "form-error" }, run.error) : null,
    h("p", null, h("button", {
      id: "retention-run",
      class: "small",
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          const done = await api("POST", "/v1/admin/retention/run");
          toast(t("data.passDone", { messages: done.messages_deleted, recordings: done.recordings_deleted }));
          await again();
        } catch (err) {
          showError(err);
          e.target.disabled = false;
        }
      },
    }, t("data.runNow"))),
    channels.length ? h("form", {
      class: "inline-form",
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api("PATCH", `/v1/channels/${channel.value}`, { retention_days: Number(count.value) });
          toast(t("data.saved"));
          await again();
        } catch (err) {
          showError(err);
        }
      },
    }, h("label", { for: "retention-channel" }, t("data.channel")), channel,
      h("label", { for: "retention-days" }, t("data.keepDays")), count,
      h("button", { type: "submit", class: "primary" }, t("data.save"))) : null);
}

function holdsPanel(holds, users, channels, userName, channelName, again) {
  const kind = h("select", { id: "hold-kind" },
    h("option", { value: "channel" }, t("data.holdChannel")), h("option", { value: "user" }, t("data.holdUser")));
  const target = h("select", { id: "hold-target", "aria-label": t("data.holdTarget") });
  const fill = () => mount(target, (kind.value === "user" ? users : channels).map((x) => h("option", { value: x.id }, x.name)));
  kind.onchange = fill;
  fill();
  const reason = h("input", { id: "hold-reason", required: true, maxlength: 500, placeholder: t("data.reasonHint") });
  return h("div", { class: "holds" },
    h("p", { class: "muted" }, t("data.holdsExplain")),
    h("form", {
      class: "inline-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const id = Number(target.value);
        try {
          await api("POST", "/v1/admin/legal-holds", kind.value === "user"
            ? { user_id: id, reason: reason.value.trim() } : { channel_id: id, reason: reason.value.trim() });
          toast(t("data.holdPlaced"));
          await again();
        } catch (err) {
          showError(err);
        }
      },
    }, kind, target, h("label", { for: "hold-reason" }, t("data.reason")), reason,
      h("button", { type: "submit", class: "primary" }, t("data.placeHold"))),
    holds.length ? h("div", { class: "table-wrap" }, h("table", { class: "hold-list" },
      h("thead", null, h("tr", null, ["held", "reason", "since", ""].map((c) => h("th", null, c ? t(`data.col.${c}`) : "")))),
      h("tbody", null, holds.map((x) => h("tr", { dataset: { hold: x.id } },
        h("td", null, x.channel_id ? `# ${channelName.get(x.channel_id) || x.channel_id}` : `@ ${userName.get(x.user_id) || x.user_id}`),
        h("td", null, x.reason), h("td", null, formatDate(x.created_at)),
        h("td", null, h("button", {
          class: "small danger",
          onclick: async () => {
            if (!(await confirmAction(t("data.lift"), t("data.liftConfirm"), t("data.lift")))) return;
            try {
              await api("DELETE", `/v1/admin/legal-holds/${x.id}`);
              await again();
            } catch (err) {
              showError(err);
            }
          },
        }, t("data.lift")))))))) : h("p", { class: "muted" }, t("data.noHolds")));
}

const AUDIT_PAGE = 100;

/** An audit entry's moment, to the second (formatDate gives the day alone). */
const auditTime = (ms) => new Date(ms).toLocaleString(document.documentElement.lang, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** `upload` → "Upload" / "上传"; an action this app does not know yet is shown as it came. */
function actionText(action) {
  const key = `audit.action.${action}`;
  const text = t(key);
  return text === key ? action : text;
}

export async function renderFileAudit(body) {
  const users = await api("GET", "/v1/users");
  const names = new Map(users.map((u) => [u.id, u.name]));
  const rows = h("tbody");
  const more = h("button", { id: "audit-more", class: "small", hidden: true }, t("audit.more"));
  let before = null;

  // Actors no longer in the list (removed since) are asked for one by one, once each.
  const resolve = async (entries) => {
    const unknown = [...new Set(entries.map((e) => e.actor).filter((id) => id != null && !names.has(id)))];
    await Promise.all(unknown.map(async (id) => {
      const user = await api("GET", `/v1/users/${id}`).catch(() => null);
      names.set(id, user ? user.name : `#${id}`);
    }));
  };

  const row = (e) => {
    const where = e.folder != null ? `#/files/${e.folder}` : null;
    const file = e.file != null ? `#${e.file}` : e.folder != null ? [icon("folder", { size: 14 }), ` ${e.folder}`] : "";
    return h("tr", { dataset: { audit: e.id, action: e.action } },
      h("td", { class: "nowrap" }, auditTime(e.at)),
      h("td", null, e.actor != null ? names.get(e.actor) : "–"),
      h("td", { class: "nowrap" }, actionText(e.action)),
      h("td", { class: "nowrap" }, where ? h("a", { href: where, dataset: { file: e.file ?? "" } }, file) : file),
      h("td", { class: "detail" }, e.detail));
  };

  const load = async () => {
    const query = before == null ? `limit=${AUDIT_PAGE}` : `limit=${AUDIT_PAGE}&before=${before}`;
    const { entries } = await api("GET", `/v1/admin/file-audit?${query}`);
    await resolve(entries);
    rows.append(...entries.map(row));
    if (entries.length) before = entries[entries.length - 1].id;
    more.hidden = entries.length < AUDIT_PAGE;
  };

  more.onclick = async () => {
    more.disabled = true;
    try {
      await load();
    } catch (err) {
      showError(err);
    }
    more.disabled = false;
  };

  await load();
  const cols = ["at", "who", "action", "file", "detail"];
  mount(body,
    h("h2", null, t("audit.title")),
    h("p", { class: "muted" }, t("audit.explain")),
    rows.children.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "file-audit" },
        h("thead", null, h("tr", null, cols.map((c) => h("th", null, t(`audit.col.${c}`))))),
        rows))
      : h("p", { class: "muted", dataset: { audit: "empty" } }, t("audit.empty")),
    h("p", null, more));
}
