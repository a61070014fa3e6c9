// Minutes, recordings and tasks in the web app: the minutes editor (during a meeting, beside
// the call, and after it), notes and decisions stamped with their place in the recording,
// action items that become tasks, recording playback that jumps to a note's moment, the list
// of meetings, and "My tasks" with due and overdue ones (opened at one of them by a search
// result, `#/tasks/{id}`). A meeting's minutes become a draft article of the knowledge base,
// its recording kept with it, in a space the user may write in.

import { t } from "./i18n.js";
import { h, mount, api, mediaUrl, me, formatTime, formatDate, formatOffset, showError, toast, dialog } from "./ui.js";
import { kbLang } from "./knowledge.js";
import { icon } from "./icons.js";

// --- Meetings ---------------------------------------------------------------------------------

export async function renderMeetings(main, ctx) {
  mount(main, h("section", { class: "page" }, h("header", { class: "view-header" },
    h("a", { href: "#/", class: "back icon", "aria-label": t("back") }, icon("back")), h("h1", null, t("nav.meetings")))));
  try {
    const { meetings } = await api("GET", "/v1/meetings?limit=50");
    main.firstChild.append(meetings.length
      ? h("ul", { class: "card-list" }, meetings.map((m) => h("li", { class: "card" },
        h("a", { href: `#/minutes/${m.id}` },
          h("strong", null, m.channel_id ? ctx.channelName(m.channel_id) : m.room),
          h("span", { class: "muted" }, " · ", formatTime(m.started_at),
            m.ended_at ? ` – ${formatTime(m.ended_at)}` : ` · ${t("meeting.live")}`),
          h("span", { class: "muted" }, " · ", t("meeting.attendees", { n: m.attendees.length }))))))
      : h("p", { class: "empty" }, t("meeting.none")));
  } catch (err) {
    showError(err);
  }
}

/** A meeting's page: its minutes and its recordings, which the minutes' stamps seek. */
export async function renderMinutes(main, ctx, id, at = null) {
  const host = h("div", { class: "minutes-page" });
  mount(main, h("section", { class: "page" },
    h("header", { class: "view-header" },
      h("a", { href: "#/meetings", class: "back icon", "aria-label": t("back") }, icon("back")),
      h("h1", null, t("minutes.title"))), host));
  try {
    const meeting = await api("GET", `/v1/meetings/${id}`);
    await minutesPanel(host, ctx, meeting, { live: false, at });
  } catch (err) {
    mount(host, h("p", { class: "empty" }, err.message));
  }
}

/**
 * The minutes editor for one meeting. `live`: the meeting is going on, so new notes are stamped
 * with the time since it started (its place in the recording).
 */
export async function minutesPanel(el, ctx, meeting, { live, at = null }) {
  let minutes = await api("GET", `/v1/meetings/${meeting.id}/minutes`);
  const members = meeting.channel_id ? await ctx.members(meeting.channel_id).catch(() => []) : [];
  const people = new Map(members.map((m) => [m.user_id, m.name]));
  for (const a of meeting.attendees || []) if (a.user_id) people.set(a.user_id, a.name);
  const player = h("div", { class: "player" });
  let media = null;
  const offsets = { start: 0 };

  const seek = (secs) => {
    if (!media) {
      toast(t("minutes.noRecording"));
      return;
    }
    media.currentTime = Math.max(0, secs - offsets.start / 1000);
    media.play().catch(() => {});
  };

  const agenda = h("textarea", { id: "minutes-agenda", rows: 3, value: minutes.agenda, "aria-label": t("minutes.agenda") });
  agenda.addEventListener("change", () =>
    api("PATCH", `/v1/meetings/${meeting.id}/minutes`, { agenda: agenda.value }).catch(showError));

  const list = h("ol", { class: "minute-items", "aria-label": t("minutes.items") });
  const renderItems = () => mount(list, minutes.items.map((item) => h("li", {
    class: `minute-item kind-${item.kind}`, dataset: { item: item.id },
  },
    h("span", { class: `tag kind-${item.kind}` }, t(`minutes.kind.${item.kind}`)),
    item.recording_offset_secs !== null && item.recording_offset_secs !== undefined
      ? h("button", { class: "stamp link", title: t("minutes.jump"), onclick: () => seek(item.recording_offset_secs) },
        formatOffset(item.recording_offset_secs)) : null,
    h("span", { class: "item-body" }, item.body),
    item.task ? h("span", { class: "muted item-task" }, " → ",
      item.task.assignee_id ? people.get(item.task.assignee_id) || `#${item.task.assignee_id}` : t("tasks.unassigned"),
      item.task.due_at ? ` · ${t("tasks.due", { date: formatDate(item.task.due_at) })}` : "",
      ` · ${t(`tasks.status.${item.task.status}`)}`) : null,
    h("button", {
      class: "icon", title: t("minutes.delete"), "aria-label": t("minutes.delete"),
      onclick: async () => {
        try {
          await api("DELETE", `/v1/meetings/${meeting.id}/minutes/items/${item.id}`);
          minutes.items = minutes.items.filter((i) => i.id !== item.id);
          renderItems();
        } catch (err) {
          showError(err);
        }
      },
    }, icon("close")))));
  renderItems();

  // The form for a new item: kind, text, and for an action its assignee and due date.
  const kind = h("select", { id: "item-kind", "aria-label": t("minutes.kindLabel") },
    ["note", "decision", "action"].map((k) => h("option", { value: k }, t(`minutes.kind.${k}`))));
  const body = h("input", { id: "item-body", required: true, maxlength: 4000, placeholder: t("minutes.itemPlaceholder"), "aria-label": t("minutes.itemText") });
  const assignee = h("select", { id: "item-assignee", "aria-label": t("minutes.assignee") },
    h("option", { value: "" }, t("tasks.unassigned")),
    [...people.entries()].map(([uid, name]) => h("option", { value: uid }, name)));
  const due = h("input", { id: "item-due", type: "date", "aria-label": t("minutes.due") });
  const actionFields = h("span", { class: "action-fields", hidden: true }, assignee, due);
  kind.onchange = () => {
    actionFields.hidden = kind.value !== "action";
  };
  const form = h("form", {
    class: "minute-form",
    onsubmit: async (e) => {
      e.preventDefault();
      const item = { kind: kind.value, body: body.value.trim() };
      if (!item.body) return;
      if (live && meeting.started_at) item.recording_offset_secs = Math.round((Date.now() - meeting.started_at) / 1000);
      if (item.kind === "action") {
        if (assignee.value) item.assignee_id = Number(assignee.value);
        // A due date is the end of that day where the user is.
        if (due.value) item.due_at = new Date(`${due.value}T23:59:00`).getTime();
      }
      try {
        const created = await api("POST", `/v1/meetings/${meeting.id}/minutes/items`, item);
        minutes.items.push(created);
        renderItems();
        body.value = "";
        toast(t("minutes.saved"));
      } catch (err) {
        showError(err);
      }
    },
  }, kind, body, actionFields, h("button", { type: "submit", class: "primary", id: "item-add" }, t("minutes.add")));

  const publishButton = h("button", {
    id: "minutes-publish",
    onclick: async () => {
      try {
        minutes = await api("POST", `/v1/meetings/${meeting.id}/minutes/publish`, { lang: document.documentElement.lang === "zh-CN" ? "zh-CN" : "en" });
        toast(t("minutes.published"));
        status.textContent = t("minutes.publishedAt", { time: formatTime(minutes.published_at || Date.now()) });
      } catch (err) {
        showError(err);
      }
    },
  }, t("minutes.publish"));
  const status = h("span", { class: "muted" },
    minutes.published_at ? t("minutes.publishedAt", { time: formatTime(minutes.published_at) }) : "");
  // After the meeting: the minutes as a draft of the knowledge base, opened in its editor.
  const toKnowledge = live ? null : h("button", {
    type: "button", id: "minutes-to-kb", onclick: () => minutesToKnowledge(meeting).catch(showError),
  }, icon("book"), t("minutes.toKb"));

  mount(el,
    h("div", { class: "minutes" },
      h("p", { class: "muted" }, t("minutes.meetingOf", { date: formatTime(meeting.started_at) }),
        meeting.ended_at ? "" : ` · ${t("meeting.live")}`),
      live ? null : player,
      h("h3", null, t("minutes.agenda")), agenda,
      h("h3", null, t("minutes.items")), list, form,
      h("div", { class: "minutes-actions" }, publishButton, toKnowledge, status)));

  if (!live) {
    // Playback: the mixed recording of everyone, lined up with the meeting's clock.
    try {
      const r = await api("GET", `/v1/meetings/${meeting.id}/recordings`);
      const mixed = r.recordings.filter((x) => x.kind === "mixed" && x.size_bytes > 0);
      const videos = r.recordings.filter((x) => x.kind === "track" && x.content_type.startsWith("video/") && x.size_bytes > 0);
      if (mixed.length || videos.length) {
        const main = mixed[0] || videos[0];
        offsets.start = main.start_offset_ms || 0;
        media = h(main.content_type.startsWith("video/") ? "video" : "audio",
          { controls: true, preload: "metadata", id: "recording-player", src: await mediaUrl(main.url) });
        if (Number.isFinite(at)) {
          // Opened at a moment (a search result): the player waits there, and the item said
          // then is marked.
          const start = offsets.start / 1000;
          media.addEventListener("loadedmetadata", () => { media.currentTime = Math.max(0, at - start); }, { once: true });
          const said = minutes.items.find((i) => Math.floor(i.recording_offset_secs ?? -1) === at);
          const row = said && list.querySelector(`[data-item="${said.id}"]`);
          if (row) {
            row.classList.add("found");
            row.scrollIntoView({ block: "center" });
          }
        }
        mount(player, h("h3", null, t("minutes.recording")), media,
          videos.length ? h("details", null, h("summary", null, t("minutes.videoTracks", { n: videos.length })),
            h("ul", null, videos.map((v) => h("li", null,
              h("a", { href: "#", onclick: async (e) => {
                e.preventDefault();
                offsets.start = v.start_offset_ms || 0;
                media.src = await mediaUrl(v.url);
              } }, `${v.participant_name || v.participant} · ${v.source}`))))) : null);
      } else {
        mount(player, h("p", { class: "muted" }, t("minutes.noRecording")));
      }
    } catch (err) {
      mount(player, h("p", { class: "muted" }, err.message));
    }
  }
}

/**
 * "Publish to the knowledge base": a space the user may write in (`write` or `admin`, not
 * archived) is chosen, the server starts a draft there from the minutes (keeping the meeting's
 * recording with it), and its editor opens.
 */
async function minutesToKnowledge(meeting) {
  const { spaces } = await api("GET", "/v1/spaces");
  const writable = spaces.filter((s) => !s.archived_at && (s.level === "write" || s.level === "admin"));
  const created = await dialog(t("minutes.toKbTitle"), (close) => {
    if (!writable.length) {
      return h("div", null, h("p", { class: "muted" }, t("minutes.toKbNoSpace")),
        h("div", { class: "dialog-actions" }, h("button", { type: "button", onclick: () => close(null) }, t("close"))));
    }
    const space = h("select", { id: "kb-space-pick", required: true },
      writable.map((s) => h("option", { value: s.id }, s.name)));
    const error = h("p", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", id: "kb-space-create" }, t("minutes.toKbCreate"));
    return h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        submit.disabled = true;
        try {
          close(await api("POST", `/v1/spaces/${space.value}/articles`, { meeting_id: meeting.id, lang: kbLang() }));
        } catch (err) {
          error.textContent = err.message;
          submit.disabled = false;
        }
      },
    },
      h("label", { for: "kb-space-pick" }, t("minutes.toKbSpace")), space,
      h("p", { class: "muted small-print" }, t("minutes.toKbExplain")),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")), submit));
  });
  if (created) {
    toast(t("minutes.toKbDone", { title: created.title }));
    location.hash = `#/articles/${created.id}/edit`;
  }
}

// --- My tasks ---------------------------------------------------------------------------------

/** The task "My tasks" is to show once its lists are drawn (from `#/tasks/{id}`). */
let focusTask = null;

/** `focus`: a task's id, whose row is scrolled to and lit up once the lists are drawn. */
export async function renderTasks(main, ctx, focus = null) {
  focusTask = focus;
  const host = h("div", { class: "tasks" });
  const note = h("p", { class: "tasks-note", role: "status", hidden: true });
  mount(main, h("section", { class: "page" },
    h("header", { class: "view-header" },
      h("a", { href: "#/", class: "back icon", "aria-label": t("back") }, icon("back")),
      h("h1", null, t("nav.tasks"))), note, host));
  const load = async () => {
    const [open, done] = await Promise.all([
      api("GET", "/v1/tasks?assignee=me&status=open,in_progress&limit=200"),
      api("GET", "/v1/tasks?assignee=me&status=done&limit=20"),
    ]);
    const byDue = (a, b) => (a.due_at || Infinity) - (b.due_at || Infinity);
    const overdue = open.tasks.filter((x) => x.overdue).sort(byDue);
    const upcoming = open.tasks.filter((x) => !x.overdue).sort(byDue);
    const row = (task) => h("li", { class: `task${task.overdue ? " overdue" : ""} status-${task.status}`, dataset: { task: task.id } },
      h("input", {
        type: "checkbox", checked: task.status === "done", "aria-label": t("tasks.markDone", { title: task.title }),
        onchange: async (e) => {
          try {
            await api("PATCH", `/v1/tasks/${task.id}`, { status: e.target.checked ? "done" : "open" });
            await load();
          } catch (err) {
            showError(err);
          }
        },
      }),
      h("div", { class: "task-main" },
        h("strong", null, task.title),
        h("div", { class: "muted" },
          task.due_at ? h("span", { class: task.overdue ? "overdue-text" : null },
            task.overdue ? t("tasks.overdueSince", { date: formatDate(task.due_at) }) : t("tasks.due", { date: formatDate(task.due_at) })) : t("tasks.noDue"),
          task.meeting_id ? [" · ", h("a", { href: `#/minutes/${task.meeting_id}` }, t("tasks.fromMeeting"))] : null,
          task.created_by && task.created_by !== me().id ? ` · ${t("tasks.from", { name: ctx.userName(task.created_by) })}` : "")),
      task.status === "in_progress" ? h("span", { class: "tag" }, t("tasks.status.in_progress")) : null);
    mount(host,
      h("h2", null, t("tasks.overdue"), " ", h("span", { class: "badge", dataset: { count: "overdue" } }, overdue.length)),
      overdue.length ? h("ul", { class: "task-list" }, overdue.map(row)) : h("p", { class: "muted" }, t("tasks.noneOverdue")),
      h("h2", null, t("tasks.upcoming"), " ", h("span", { class: "badge muted-badge", dataset: { count: "open" } }, upcoming.length)),
      upcoming.length ? h("ul", { class: "task-list" }, upcoming.map(row)) : h("p", { class: "muted" }, t("tasks.noneOpen")),
      h("h2", null, t("tasks.done")),
      done.tasks.length ? h("ul", { class: "task-list done" }, done.tasks.map(row)) : h("p", { class: "muted" }, t("tasks.noneDone")));
    host.dataset.loaded = "true";
  };
  try {
    await load();
    if (focusTask !== null && host.isConnected) revealTask(focusTask);
  } catch (err) {
    showError(err);
  }
}

/**
 * Scroll "My tasks" to the task's row and light it up for a moment, the keyboard on it. A task
 * not in these lists (someone else's that the user created or saw in a meeting, or one done
 * long ago) is said so above them, with a way to its meeting. Before the lists are drawn, it is
 * kept for when they are.
 */
export async function revealTask(id) {
  const host = document.querySelector(".tasks");
  const note = document.querySelector(".tasks-note");
  if (!host || !note) return;
  if (!host.dataset.loaded) {
    focusTask = id;
    return;
  }
  focusTask = null;
  note.hidden = true;
  const row = host.querySelector(`.task[data-task="${id}"]`);
  if (row) {
    row.scrollIntoView({ block: "center" });
    row.tabIndex = -1;
    row.focus({ preventScroll: true });
    row.classList.add("found");
    setTimeout(() => row.classList.remove("found"), 2500);
    return;
  }
  let task = null;
  try {
    task = await api("GET", `/v1/tasks/${id}`);
  } catch {
    // Gone, or no longer the user's to see: said below.
  }
  if (!note.isConnected) return;
  mount(note, task
    ? [t("tasks.notListed", { title: task.title }),
      task.meeting_id ? [" ", h("a", { href: `#/minutes/${task.meeting_id}` }, t("tasks.openMeeting"))] : null]
    : t("tasks.gone"));
  note.hidden = false;
}
