// People: avatars (pictures people upload, else initials on a colour), your own profile (name,
// job title, time zone, status text, picture), anyone's profile card (department, local time,
// a button to message them), and the page where members browse open channels and join them.

import { t, lang } from "./i18n.js";
import { h, mount, api, token, me, initials, colour, showError, toast, dialog, confirmAction } from "./ui.js";
import { icon } from "./icons.js";

/** Avatar URL → a promise of an object URL of its picture (the picture at a URL never changes). */
const pictures = new Map();

/** The picture at an avatar URL, fetched once with the bearer token (an <img> cannot send one). */
function picture(url) {
  if (!pictures.has(url)) {
    const loading = (async () => {
      const response = await fetch(url, { headers: { authorization: "Bearer " + (await token()) } });
      if (!response.ok) throw new Error(`avatar ${response.status}`);
      return URL.createObjectURL(await response.blob());
    })();
    loading.catch(() => pictures.delete(url));
    pictures.set(url, loading);
  }
  return pictures.get(url);
}

/**
 * A person's avatar: their picture when they have one, else their initials on their colour.
 * `person` is `{id, name, avatar}` (a user, a member with `user_id`, or a card).
 */
export function avatar(person, { size = "", label = false } = {}) {
  const id = person.id ?? person.user_id;
  const el = h("span", {
    class: `avatar ${size}`.trim(),
    dataset: { user: String(id) },
    ...(label ? { role: "img", "aria-label": person.name } : { "aria-hidden": "true" }),
  }, initials(person.name || "?"));
  el.style.background = colour(id);
  if (person.avatar) {
    picture(person.avatar).then((src) => {
      const img = h("img", { src, alt: "", class: "avatar-picture" });
      el.textContent = "";
      el.style.background = "";
      el.append(img);
    }).catch(() => { /* the initials stay */ });
  }
  return el;
}

/** The time now where a person is, such as "14:05 (Asia/Shanghai)", or null without a zone. */
export function localTime(zone) {
  if (!zone) return null;
  try {
    return new Intl.DateTimeFormat(lang(), { timeZone: zone, hour: "2-digit", minute: "2-digit", weekday: "short" })
      .format(new Date());
  } catch {
    return null;
  }
}

/**
 * Anyone's profile card: picture, name, title, department, local time and status, and a button
 * to message them. `ctx` is the app's context (state, navigate); `openDirect(id)` opens a direct
 * channel with them.
 */
export async function showProfile(ctx, id, { openDirect } = {}) {
  let person = ctx.state.users.get(id) || { id, name: ctx.userName(id) };
  if (me().role !== "guest" || id === me().id) {
    person = await api("GET", `/v1/users/${id}`).catch(() => person);
    ctx.state.users.set(id, { ...ctx.state.users.get(id), ...person });
  }
  const presence = ctx.state.presence.get(id);
  const local = localTime(person.time_zone);
  await dialog(person.name, (close) => h("div", { class: "profile-card", dataset: { user: String(id) } },
    avatar(person, { size: "huge", label: true }),
    h("div", { class: "profile-facts" },
      person.title ? h("p", { class: "profile-title" }, person.title) : null,
      person.department_path ? h("p", { class: "muted" }, icon("building"), " ", person.department_path) : null,
      local ? h("p", { class: "profile-local" }, icon("history"), " ", t("people.localTime", { time: local })) : null,
      // The presence-* classes colour a dot; on the line itself they painted it all green.
      presence ? h("p", { class: "presence-text" }, h("span", { class: `dot presence-${presence}`, "aria-hidden": "true" }),
        t(`presence.${presence}`)) : null,
      ctx.state.statusText && ctx.state.statusText.get(id)
        ? h("p", { class: "profile-status" }, ctx.state.statusText.get(id)) : null),
    h("div", { class: "dialog-actions" },
      id !== me().id && openDirect
        ? h("button", { type: "button", class: "primary", onclick: () => { close(null); openDirect(id); } },
          icon("chat"), " ", t("people.message"))
        : null,
      h("button", { type: "button", onclick: () => close(null) }, t("close")))));
}

/**
 * Open the direct channel with user `id`: the one you have, else a new one. `state` is the
 * app's live state (its channel summaries and member lists).
 */
export async function openDirect(state, id) {
  for (const summary of state.channels.values()) {
    if (summary.channel.kind !== "direct") continue;
    let members = state.members.get(summary.channel.id);
    if (!members) {
      members = await api("GET", `/v1/channels/${summary.channel.id}/members`).catch(() => []);
      state.members.set(summary.channel.id, members);
    }
    if (members.some((m) => m.user_id === id)) {
      location.hash = `#/c/${summary.channel.id}`;
      return;
    }
  }
  try {
    const channel = await api("POST", "/v1/channels", { name: "direct", kind: "direct", category: "project", members: [id] });
    if (!state.channels.has(channel.id)) {
      state.channels.set(channel.id, { channel, last_seq: 0, read_seq: 0, unread: 0, last_message: null });
    }
    location.hash = `#/c/${channel.id}`;
  } catch (error) {
    showError(error);
  }
}

/**
 * The time zones the browser knows, for the profile's choice, with `extra` (the zone saved and
 * this device's): browsers list only canonical names, without "UTC" and with "Asia/Calcutta"
 * for "Asia/Kolkata", and a saved zone missing from the list would show as unset and be
 * cleared by the next save.
 */
function timeZones(...extra) {
  let known;
  try {
    known = Intl.supportedValuesOf("timeZone");
  } catch {
    known = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Asia/Tokyo", "Europe/London",
      "Europe/Berlin", "America/New_York", "America/Los_Angeles"];
  }
  const missing = extra.filter((z) => z && !known.includes(z));
  return [...new Set(missing), ...known];
}

/**
 * Edit your own profile. `onSaved(user)` gets the account as the server has it afterwards;
 * `setStatus(text)` changes the status text (a presence choice on `/v1/ws`).
 */
export async function editProfile(ctx, { onSaved, setStatus, statusText = "" } = {}) {
  const mine = await api("GET", `/v1/users/${me().id}`);
  let current = mine;
  const name = h("input", { id: "profile-name", value: mine.name, required: true, maxlength: 200, autocomplete: "name" });
  const title = h("input", { id: "profile-title", value: mine.title || "", maxlength: 100, autocomplete: "organization-title" });
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zone = h("select", { id: "profile-zone" },
    h("option", { value: "" }, t("people.noZone")),
    ...timeZones(mine.time_zone, here, "UTC").map((z) => h("option", { value: z, selected: z === (mine.time_zone || "") }, z)));
  const status = h("input", { id: "profile-status", value: statusText, maxlength: 100, placeholder: t("people.statusHint") });
  const preview = h("div", { class: "profile-avatar" }, avatar(mine, { size: "huge", label: true }));
  const file = h("input", { id: "profile-picture", type: "file", accept: "image/png,image/jpeg,image/webp,image/gif", class: "visually-hidden" });
  const redraw = (user) => {
    current = user;
    mount(preview, avatar(user, { size: "huge", label: true }));
    remove.hidden = !user.avatar;
    if (onSaved) onSaved(user);
  };
  file.addEventListener("change", async () => {
    const picked = file.files && file.files[0];
    file.value = "";
    if (!picked) return;
    if (picked.size > 5 * 1024 * 1024) {
      toast(t("people.pictureTooBig"), "error");
      return;
    }
    try {
      redraw(await api("PUT", `/v1/users/${me().id}/avatar`, null, { raw: picked, contentType: picked.type || "image/png" }));
      toast(t("people.pictureSaved"));
    } catch (error) {
      showError(error);
    }
  });
  const remove = h("button", {
    type: "button", class: "small", dataset: { action: "remove-picture" }, hidden: !mine.avatar,
    onclick: async () => {
      if (!(await confirmAction(t("people.removePicture"), t("people.removePictureConfirm"), t("people.removePicture")))) return;
      try {
        redraw(await api("DELETE", `/v1/users/${me().id}/avatar`));
      } catch (error) {
        showError(error);
      }
    },
  }, icon("trash"), " ", t("people.removePicture"));
  const saved = await dialog(t("people.editProfile"), (close) => h("form", {
    class: "profile-form",
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const user = await api("PATCH", `/v1/users/${me().id}`, {
          name: name.value.trim(), title: title.value.trim(), time_zone: zone.value,
        });
        if (setStatus && status.value.trim() !== statusText) await setStatus(status.value.trim());
        if (onSaved) onSaved(user);
        close(user);
      } catch (error) {
        showError(error);
      }
    },
  },
  h("div", { class: "profile-picture-row" }, preview,
    h("div", null,
      h("label", { for: "profile-picture", class: "button small", dataset: { action: "upload-picture" } },
        icon("upload"), " ", t("people.uploadPicture")),
      file, remove)),
  h("label", { for: "profile-name" }, t("people.name")), name,
  h("label", { for: "profile-title" }, t("people.title")), title,
  h("label", { for: "profile-zone" }, t("people.zone")), zone,
  zone.value || !here ? null
    : h("button", { type: "button", class: "link", onclick: () => { zone.value = here; } }, t("people.useZone", { zone: here })),
  h("label", { for: "profile-status" }, t("people.status")), status,
  h("div", { class: "dialog-actions" },
    h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
    h("button", { type: "submit", class: "primary" }, t("people.save")))));
  return saved || current;
}

/**
 * The open channels you are not in, each with a Join button; `onJoined(channel)` follows a
 * join (the channel arrives on `/v1/ws` as well).
 */
export async function renderBrowse(main, { onJoined } = {}) {
  const list = h("ul", { class: "browse-list", "aria-live": "polite" });
  mount(main, h("section", { class: "page browse-page" },
    h("header", { class: "view-header" },
      h("a", { href: "#/", class: "back icon", "aria-label": t("back") }, icon("back")),
      h("div", { class: "title" }, h("h1", null, t("browse.title")),
        h("span", { class: "muted" }, t("browse.explain")))),
    list));
  let channels;
  try {
    channels = await api("GET", "/v1/channels/browse");
  } catch (error) {
    showError(error);
    return;
  }
  if (!channels.length) {
    mount(list, h("li", { class: "empty" }, me().role === "guest" ? t("browse.guest") : t("browse.none")));
    return;
  }
  mount(list, ...channels.map((c) => {
    const join = h("button", {
      type: "button", class: "primary small", dataset: { action: "join", channel: String(c.id) },
      "aria-label": t("browse.joinNamed", { name: c.name }),
      onclick: async () => {
        join.disabled = true;
        try {
          const joined = await api("POST", `/v1/channels/${c.id}/join`);
          if (onJoined) onJoined(joined);
        } catch (error) {
          join.disabled = false;
          showError(error);
        }
      },
    }, t("browse.join"));
    return h("li", { class: "browse-item", dataset: { channel: String(c.id) } },
      h("div", null, h("strong", null, c.name),
        h("span", { class: "muted" }, " · ", t(`category.${c.category}`), " · ",
          t("channel.memberCount", { n: c.member_count }))),
      join);
  }));
}
