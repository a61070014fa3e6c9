// The file library: the roots a person can open (their own files, their departments', their
// channels', and folders shared with them), a folder with its path, subfolders and files, and
// what the caller's level there allows: new folders, uploads (picked or dropped, resumable with
// progress: `Upload` in ui.js), new versions with a comment, downloads, edit locks, the trash,
// watching, renaming, archiving, and the permission dialog for those who manage it. A file's
// versions open in a panel, each downloadable and restorable. The trash lists what the user
// uploaded and deleted. A folder opened at one of its files (a search result) scrolls to its
// row and lights it up. Everything goes through the public REST API (docs/protocol.md, "Files").

import { t } from "./i18n.js";
import {
  h, mount, api, me, formatTime, formatSize, showError, toast, dialog, Upload, downloadLink,
  dropZone, confirmAction,
} from "./ui.js";
import { state, userName, channelName } from "./app.js";
import { fileIcon } from "./attachments.js";
import { icon } from "./icons.js";

const RANK = { none: 0, view: 1, edit: 2, manage: 3 };
const LEVELS = ["none", "view", "edit", "manage"];
const ROLES = ["admin", "dept_admin", "member", "guest"];
/** Minutes an edit lock holds; taking it again renews it. */
const LOCK_MINUTES = 60;

/** Uploads under way into any folder: they go on while the user looks elsewhere. */
const uploads = [];
/** Root folder id → its name here ("My files"), for the first step of a path. */
const rootLabels = new Map();

export function levelName(level) {
  return {
    none: t("library.level.none"), view: t("library.level.view"),
    edit: t("library.level.edit"), manage: t("library.level.manage"),
  }[level] || level;
}

function roleName(role) {
  return {
    admin: t("role.admin"), dept_admin: t("role.dept_admin"), member: t("role.member"), guest: t("role.guest"),
  }[role] || role;
}

/**
 * `#/files`, `#/files/{folder}`, `#/files/{folder}/f/{file}` (the folder at that file),
 * `#/files/trash`, `#/files/channel/{channel}`.
 */
export function renderLibrary(main, parts) {
  const [, which, id, file] = parts;
  // What arrives after the user went elsewhere is not drawn over where they went.
  const here = location.hash;
  const at = (fn) => (...args) => location.hash === here && fn(...args);
  const fail = at((err) => failed(main, err));
  if (!which) renderRoots(at((...children) => mount(main, ...children))).catch(fail);
  else if (which === "trash") renderTrash(at((...children) => mount(main, ...children))).catch(fail);
  else if (which === "channel") openChannelLibrary(at((folder) => location.replace(`#/files/${folder}`)), Number(id)).catch(fail);
  else new FolderView(main, Number(which), { focusFile: id === "f" ? Number(file) || null : null });
}

/** Show the file again in its folder's open view: a search result chosen while it is open. */
export function revealFile(folder, file) {
  const view = openViews().find((v) => v.id === folder);
  // Still loading: it shows the file once it is drawn.
  if (view && view.data) view.reveal(file);
  else if (view) view.focusFile = file;
}

function failed(main, err) {
  const gone = err && (err.status === 404 || err.status === 403);
  mount(main, h("section", { class: "page" }, header(t("nav.files"), "#/"),
    h("div", { class: "empty", role: "alert" }, gone ? t("library.notFound") : err.message)));
  if (!gone) showError(err);
}

function header(title, back, ...extra) {
  return h("header", { class: "view-header" },
    h("a", { href: back, class: "back icon", "aria-label": t("back") }, icon("back")),
    h("div", { class: "title" }, h("h1", null, title), ...extra));
}

/** A root as people call it: their own is "My files"; a channel's carries its current name. */
function rootLabel(folder) {
  const root = folder.root;
  let label = folder.name;
  if (root && root.kind === "user" && root.user_id === me().id) label = t("library.myFiles");
  else if (root && root.kind === "channel" && state.channels.has(root.channel_id)) label = channelName(root.channel_id);
  if (root) rootLabels.set(folder.id, label);
  return label;
}

function rootIcon(folder) {
  const kind = folder.root ? folder.root.kind : "shared";
  return h("span", { class: "lib-kind", dataset: { kind }, "aria-hidden": "true" },
    kind === "channel" ? "#" : icon({ user: "user", department: "building" }[kind] || "people"));
}

// --- The roots --------------------------------------------------------------------------------

async function renderRoots(show) {
  const reply = await api("GET", "/v1/folders");
  const card = (folder, kindLabel) => h("li", null,
    h("a", { class: "lib-root", href: `#/files/${folder.id}`, dataset: { folder: folder.id } },
      rootIcon(folder),
      h("span", { class: "lib-root-name" }, rootLabel(folder)),
      h("span", { class: "muted" }, kindLabel(folder))));
  const kindOf = (folder) => ({
    user: t("library.kind.user"), department: t("library.kind.department"), channel: t("library.kind.channel"),
  }[folder.root && folder.root.kind] || "");
  show(h("section", { class: "page library-home" },
    header(t("nav.files"), "#/",
      h("a", { class: "button small", href: "#/files/trash", dataset: { action: "trash" } }, icon("trash"), t("library.trash"))),
    h("h2", null, t("library.roots")),
    h("ul", { class: "lib-roots", dataset: { list: "roots" } }, reply.roots.map((f) => card(f, kindOf))),
    h("h2", null, t("library.shared")),
    reply.shared.length
      ? h("ul", { class: "lib-roots", dataset: { list: "shared" } }, reply.shared.map((f) => card(f, () => t("library.kind.shared"))))
      : h("p", { class: "muted" }, t("library.noneShared"))));
}

async function openChannelLibrary(go, channel) {
  const view = await api("GET", `/v1/channels/${channel}/folder`);
  go(view.folder.id);
}

// --- A folder ---------------------------------------------------------------------------------

/**
 * One folder as the caller stands in it. Follows `file_version` notifications for it (those
 * who watch it, and a channel's members in its tree, hear of each new version), so a version
 * another person adds shows at once. Files dropped on it upload into it.
 */
class FolderView {
  /** `focusFile`: once drawn, scroll to this file's row and light it up. */
  constructor(main, id, { focusFile = null } = {}) {
    this.id = id;
    this.data = null;
    this.closed = false;
    this.focusFile = focusFile;
    this.picker = h("input", {
      type: "file", multiple: true, hidden: true, class: "lib-upload-input", tabindex: "-1",
      onchange: () => {
        this.upload([...this.picker.files]);
        this.picker.value = "";
      },
    });
    this.top = h("div", { class: "lib-top" });
    this.tray = h("div", { class: "upload-tray lib-tray", role: "list", "aria-label": t("library.uploads") });
    this.list = h("div", { class: "lib-body" }, h("p", { class: "muted center" }, t("library.loading")));
    this.root = h("section", { class: "page library", dataset: { drop: t("library.drop"), folder: id } },
      this.top, this.picker, this.tray, this.list);
    mount(main, this.root);
    // Files dropped on the folder are uploaded into it, where one may.
    this.stopDrops = dropZone(
      this.root,
      () => Boolean(this.data && this.may.edit),
      (files) => this.upload(files),
    );
    state.views.add(this);
    renderTray(this);
    this.load();
  }

  close() {
    this.closed = true;
    state.views.delete(this);
    this.stopDrops();
  }

  onEvent(event) {
    const n = event.type === "notification" ? event.notification : null;
    if (n && n.kind === "file_version" && n.file && n.file.folder === this.id) this.load();
  }

  async load() {
    try {
      const data = await api("GET", `/v1/folders/${this.id}`);
      if (this.closed) return;
      this.show(data);
    } catch (err) {
      if (!this.closed) failed(this.root.parentElement || this.root, err);
    }
  }

  /** What the caller may do here: `view` ≥ browse; `edit` changes; `manage` everything. */
  get may() {
    const { level, read_only: readOnly } = this.data;
    const rank = RANK[level] || 0;
    return { edit: rank >= 2 && !readOnly, manage: rank >= 3, readOnly };
  }

  mayDelete(file) {
    const rank = RANK[this.data.level] || 0;
    if (this.data.read_only || me().role === "guest") return false;
    return rank >= 3 || (rank >= 2 && file.owner === me().id);
  }

  show(data) {
    const focus = this.focusPlace();
    this.data = data;
    const { folder, path } = data;
    const may = this.may;
    const isRoot = folder.parent === null || folder.parent === undefined;
    const title = isRoot ? rootLabel(folder) : folder.name;
    const back = path.length > 1 ? `#/files/${path[path.length - 2].id}` : "#/files";
    this.root.dataset.level = data.level;
    this.root.dataset.readOnly = String(data.read_only);
    const crumbs = h("nav", { class: "crumbs", "aria-label": t("library.path") },
      h("a", { href: "#/files" }, t("nav.files")),
      path.map((c, i) => [h("span", { class: "sep", "aria-hidden": "true" }, "›"),
        i === path.length - 1
          ? h("span", { "aria-current": "page", dataset: { crumb: c.id } }, title)
          : h("a", { href: `#/files/${c.id}`, dataset: { crumb: c.id } }, (i === 0 && rootLabels.get(c.id)) || c.name)]));
    const act = (action, glyph, label, fn, attrs = {}) => h("button", {
      type: "button", class: "small", dataset: { action }, ...attrs,
      onclick: () => Promise.resolve(fn()).catch(showError),
    }, glyph ? icon(glyph) : null, label);
    const tools = h("div", { class: "lib-toolbar", role: "toolbar", "aria-label": t("library.actions") },
      may.edit ? act("upload", "upload", t("library.upload"), () => this.picker.click(), { class: "small primary" }) : null,
      may.edit ? act("new-folder", "plus", t("library.newFolder"), () => this.newFolder()) : null,
      act("refresh", "history", t("library.refresh"), () => this.load()),
      act("watch", "eye", data.watching ? t("library.watching") : t("library.watch"),
        () => this.setWatch(!data.watching), { "aria-pressed": String(data.watching) }),
      may.edit && !isRoot ? act("rename", "edit", t("library.rename"), () => this.rename(folder)) : null,
      may.manage && !data.read_only && data.grants ? act("permissions", "key", t("library.permissions"), () => this.permissions()) : null,
      may.manage && (folder.archived_at || !data.read_only)
        ? act("archive", folder.archived_at ? null : "archive", folder.archived_at ? t("library.unarchive") : t("library.archive"),
          () => this.archive(!folder.archived_at)) : null);
    mount(this.top,
      header(title, back,
        h("span", { class: "tag lib-level", dataset: { level: data.level } }, t("library.yourAccess", { level: levelName(data.level) })),
        data.read_only ? h("span", { class: "tag lib-archived" }, t("library.readOnly")) : null),
      crumbs, tools);
    const rows = [...data.folders.map((f) => this.folderRow(f)), ...data.files.map((f) => this.fileRow(f))];
    mount(this.list, rows.length
      ? h("ul", { class: "lib-list", "aria-label": title }, rows)
      : h("div", { class: "empty" }, may.edit ? t("library.emptyDrop") : t("library.empty")));
    if (focus) focus();
    if (this.focusFile !== null) {
      this.reveal(this.focusFile);
      this.focusFile = null;
    }
  }

  /**
   * Scroll to the file's row and light it up for a moment; a file no longer here (moved,
   * deleted) is said so. The keyboard goes to the row (its name is not a link until the
   * download's address is known), so the next Tab is from there.
   */
  reveal(file) {
    const row = this.list.querySelector(`.lib-row[data-file="${file}"]`);
    if (!row) {
      toast(t("library.fileGone"), "error");
      return;
    }
    row.scrollIntoView({ block: "center" });
    row.tabIndex = -1;
    row.focus({ preventScroll: true });
    row.classList.add("found");
    setTimeout(() => row.classList.remove("found"), 2500);
  }

  /**
   * Where the keyboard is, as a way back there once the view is drawn again: the same button,
   * else (a lock that became an unlock) the first of its row's, else the toolbar.
   */
  focusPlace() {
    const el = document.activeElement;
    if (!el || !this.root.contains(el) || !el.dataset.action) return null;
    const row = el.closest(".lib-row");
    const rowSel = row && (row.dataset.file ? `.lib-row[data-file="${row.dataset.file}"]` : `.lib-row[data-folder="${row.dataset.folder}"]`);
    const action = `[data-action="${el.dataset.action}"]`;
    return () => {
      const again = (rowSel ? this.root.querySelector(`${rowSel} ${action}`) || this.root.querySelector(`${rowSel} [data-action]`)
        : this.root.querySelector(`.lib-toolbar ${action}`)) || this.root.querySelector(".lib-toolbar [data-action]");
      if (again) again.focus();
    };
  }

  folderRow(f) {
    return h("li", { class: "lib-row lib-folder", dataset: { folder: f.id, name: f.name } },
      h("span", { class: "folder-icon", "aria-hidden": "true" }),
      h("div", { class: "lib-main" },
        h("a", { class: "lib-name", href: `#/files/${f.id}` }, f.name),
        h("span", { class: "lib-meta" }, t("library.folder"),
          f.archived_at ? [" · ", h("span", { class: "tag lib-archived" }, t("library.archived"))] : null)),
      h("div", { class: "lib-actions" },
        this.may.edit ? h("button", {
          type: "button", class: "small", dataset: { action: "rename" },
          title: t("library.renameNamed", { name: f.name }), "aria-label": t("library.renameNamed", { name: f.name }),
          onclick: () => this.rename(f).catch(showError),
        }, icon("edit")) : null));
  }

  fileRow(f) {
    const may = this.may;
    const mine = f.locked_by === me().id;
    const lockedByOther = f.locked_by && !mine;
    const button = (action, glyph, label, fn) => h("button", {
      type: "button", class: "small", dataset: { action }, title: label, "aria-label": `${label}: ${f.name}`,
      onclick: () => Promise.resolve(fn()).catch(showError),
    }, icon(glyph), h("span", { class: "label" }, label));
    const content = `/v1/files/${f.id}/content?download=true`;
    return h("li", { class: "lib-row lib-file", dataset: { file: f.id, name: f.name, version: f.version } },
      fileIcon(f.name, f.mime),
      h("div", { class: "lib-main" },
        downloadLink(content, f.name, { class: "lib-name", title: t("attach.download", { name: f.name }) }, f.name),
        h("span", { class: "lib-meta" },
          formatSize(f.size), " · ",
          h("span", { class: "lib-version" }, `v${f.version}`), " · ",
          userName(f.owner), " · ",
          h("time", { datetime: new Date(f.updated_at).toISOString() }, formatTime(f.updated_at)),
          f.locked_by ? [" ", h("span", {
            class: "tag lib-lock", dataset: { lockedBy: f.locked_by },
            title: t("library.lockedUntil", { name: userName(f.locked_by), time: formatTime(f.locked_until) }),
          }, icon("lock", { size: 12 }), mine ? t("library.lockedByYou") : t("library.lockedBy", { name: userName(f.locked_by) }))] : null)),
      h("div", { class: "lib-actions" },
        downloadLink(content, f.name, { class: "button small", dataset: { action: "download" },
          title: t("attach.download", { name: f.name }), "aria-label": t("attach.download", { name: f.name }) },
        icon("download"), h("span", { class: "label" }, t("attach.save"))),
        button("versions", "history", t("library.versions"), () => this.versions(f)),
        may.edit && !lockedByOther ? button("new-version", "upload", t("library.newVersion"), () => this.newVersion(f)) : null,
        may.edit && !f.locked_by ? button("lock", "lock", t("library.lock"), () => this.lock(f, true)) : null,
        f.locked_by && (mine || this.mayDelete(f)) ? button("unlock", "unlock", t("library.unlock"), () => this.lock(f, false)) : null,
        this.mayDelete(f) ? button("delete", "trash", t("library.delete"), () => this.remove(f)) : null));
  }

  // --- Actions ----------------------------------------------------------------------------

  upload(files, options = {}) {
    if (!files.length || !this.may.edit) return;
    startUploads(this.id, files, options);
  }

  async newFolder() {
    const name = await askName(t("library.newFolder"), "");
    if (!name) return;
    await api("POST", `/v1/folders/${this.id}/folders`, { name });
    await this.load();
  }

  async rename(folder) {
    const name = await askName(t("library.renameNamed", { name: folder.name }), folder.name);
    if (!name || name === folder.name) return;
    await api("PATCH", `/v1/folders/${folder.id}`, { name });
    await this.load();
  }

  async setWatch(on) {
    await api(on ? "POST" : "DELETE", `/v1/folders/${this.id}/watch`, null);
    toast(on ? t("library.watchOn") : t("library.watchOff"));
    await this.load();
  }

  async archive(on) {
    if (on && !(await confirmAction(t("library.archive"), t("library.archiveConfirm"), t("library.archive")))) return;
    await api("PATCH", `/v1/folders/${this.id}`, { archived: on });
    await this.load();
  }

  async lock(file, on) {
    if (on) await api("POST", `/v1/files/${file.id}/lock`, { minutes: LOCK_MINUTES });
    else await api("DELETE", `/v1/files/${file.id}/lock`, null);
    await this.load();
  }

  async remove(file) {
    if (!(await confirmAction(t("library.delete"), t("library.deleteConfirm", { name: file.name }), t("library.delete")))) return;
    await api("DELETE", `/v1/files/${file.id}`, null);
    toast(file.owner === me().id ? t("library.deleted", { name: file.name }) : t("library.deletedTheirs", { name: file.name }));
    await this.load();
  }

  /** A new version of `file`: another file from the device, under this file's name. */
  async newVersion(file) {
    const chosen = await dialog(t("library.newVersionOf", { name: file.name }), (close) => {
      const input = h("input", { id: "version-file", type: "file", required: true });
      const comment = h("textarea", { id: "version-comment", rows: 2, maxlength: 500, placeholder: t("library.commentHint") });
      return h("form", {
        onsubmit: (e) => {
          e.preventDefault();
          if (input.files.length) close({ file: input.files[0], comment: comment.value.trim() });
        },
      },
        h("label", { for: "version-file" }, t("library.chooseFile")), input,
        h("label", { for: "version-comment" }, t("library.comment")), comment,
        h("div", { class: "dialog-actions" },
          h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
          h("button", { type: "submit", class: "primary" }, t("library.upload"))));
    });
    if (chosen) this.upload([chosen.file], { name: file.name, comment: chosen.comment });
  }

  /** The version panel: every version, newest first; each downloads, an old one restores. */
  async versions(file) {
    // Focus returns here when a restore redraws the list (the button pressed is gone), so the
    // keyboard stays in the dialog.
    const body = h("div", { class: "versions", tabindex: "-1", "aria-live": "polite" }, h("p", { class: "muted" }, t("library.loading")));
    const fill = async () => {
      const { versions } = await api("GET", `/v1/files/${file.id}/versions`);
      const current = versions.length ? versions[0].version : file.version;
      const mayRestore = this.may.edit && !(file.locked_by && file.locked_by !== me().id);
      mount(body, h("ol", { class: "version-list" }, versions.map((v) => h("li", {
        class: `version-row${v.version === current ? " current" : ""}`, dataset: { version: v.version },
      },
        h("div", { class: "version-head" },
          h("strong", null, `v${v.version}`),
          v.version === current ? h("span", { class: "tag" }, t("library.current")) : null,
          h("span", { class: "muted" }, formatSize(v.size))),
        h("div", { class: "lib-meta" }, userName(v.uploader), " · ",
          h("time", { datetime: new Date(v.created_at).toISOString() }, formatTime(v.created_at))),
        v.comment ? h("p", { class: "version-comment" }, v.comment) : null,
        h("div", { class: "lib-actions" },
          downloadLink(`/v1/files/${file.id}/content?version=${v.version}&download=true`, file.name,
            { class: "button small", dataset: { action: "download" },
              "aria-label": t("library.downloadVersion", { n: v.version }) }, icon("download"), t("attach.save")),
          mayRestore && v.version !== current ? h("button", {
            type: "button", class: "small", dataset: { action: "restore" },
            "aria-label": t("library.restoreVersion", { n: v.version }),
            onclick: async () => {
              try {
                const restored = await api("POST", `/v1/files/${file.id}/versions/${v.version}/restore`, null);
                toast(t("library.restored", { n: v.version, m: restored.version }));
                await Promise.all([fill(), this.load()]);
                body.focus();
              } catch (err) {
                showError(err);
              }
            },
          }, icon("history"), t("library.restore")) : null)))));
    };
    fill().catch((err) => mount(body, h("p", { class: "form-error" }, err.message)));
    await dialog(t("library.versionsOf", { name: file.name }), (close) => h("div", { class: "version-panel" }, body,
      h("div", { class: "dialog-actions" }, h("button", { type: "button", onclick: () => close(null) }, t("close")))));
  }

  async permissions() {
    const saved = await editGrants(this.data);
    if (saved) {
      toast(t("library.permissionsSaved"));
      this.show(saved);
    }
  }
}

function askName(title, value) {
  return dialog(title, (close) => {
    const input = h("input", { id: "folder-name", required: true, maxlength: 255, value });
    return h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        const name = input.value.trim();
        if (name) close(name);
      },
    },
      h("label", { for: "folder-name" }, t("library.folderName")), input,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
        h("button", { type: "submit", class: "primary" }, t("library.save"))));
  });
}

// --- Uploads ----------------------------------------------------------------------------------

function startUploads(folder, files, { name = null, comment = "" } = {}) {
  for (const file of files) {
    const upload = new Upload(file, { folder, name, comment, onChange: () => changed(upload) });
    upload.chip = chip(upload);
    uploads.push(upload);
    upload.start();
  }
  renderTrays();
}

function openViews() {
  return [...state.views].filter((v) => v instanceof FolderView);
}

function changed(upload) {
  renderChip(upload);
  if (upload.state !== "done" || upload.landed) return;
  upload.landed = true;
  for (const view of openViews()) if (view.id === upload.folder) view.load();
  // A finished upload's chip stays a moment, so the eye can follow it into the list.
  setTimeout(() => dismiss(upload), 4000);
}

function dismiss(upload) {
  const i = uploads.indexOf(upload);
  if (i >= 0) uploads.splice(i, 1);
  renderTrays();
}

function renderTrays() {
  for (const view of openViews()) renderTray(view);
}

function renderTray(view) {
  const mine = uploads.filter((u) => u.folder === view.id);
  mount(view.tray, mine.map((u) => u.chip.el));
  view.tray.hidden = !mine.length;
  for (const upload of mine) renderChip(upload);
}

/** One upload's chip: its name, sizes and progress, pause or resume, and remove (or dismiss). */
function chip(upload) {
  const name = upload.name;
  const meta = h("span", { class: "chip-meta" });
  const bar = h("progress", { max: "1", "aria-label": name });
  const toggle = h("button", {
    type: "button", class: "icon chip-toggle",
    onclick: () => (upload.state === "uploading" ? upload.pause() : upload.resume()),
  });
  const remove = h("button", {
    type: "button", class: "icon chip-remove", title: t("attach.remove", { name }), "aria-label": t("attach.remove", { name }),
    // A finished upload is a file now: its chip goes, the file stays.
    onclick: () => {
      if (upload.state !== "done") upload.remove();
      dismiss(upload);
    },
  }, icon("close"));
  const el = h("div", { class: "upload-chip", role: "listitem", dataset: { name } },
    fileIcon(name, upload.file.type),
    h("div", { class: "chip-main" }, h("span", { class: "chip-name", title: name }, name), meta, bar),
    toggle, remove);
  return { el, meta, bar, toggle };
}

function renderChip(upload) {
  const c = upload.chip;
  const { state: now, sent, file } = upload;
  c.el.dataset.state = now;
  if (upload.fileId) c.el.dataset.file = String(upload.fileId);
  c.bar.value = file.size ? sent / file.size : now === "done" ? 1 : 0;
  const sizes = now === "done" ? `${t("library.uploaded")} · ${formatSize(file.size)}` : `${formatSize(sent)} / ${formatSize(file.size)}`;
  c.meta.textContent = now === "failed" ? t("attach.failed", { reason: upload.error.message })
    : now === "paused" ? `${t("attach.paused")} · ${sizes}` : sizes;
  c.toggle.hidden = now === "done" || now === "removed";
  const label = now === "uploading" ? t("attach.pause") : now === "failed" ? t("attach.retry") : t("attach.resume");
  mount(c.toggle, now === "uploading" ? playIcon("pause") : now === "failed" ? icon("history") : playIcon("play"));
  c.toggle.title = label;
  c.toggle.setAttribute("aria-label", `${label}: ${upload.name}`);
}

// --- Permissions --------------------------------------------------------------------------------

/** The subject of a grant as a key (to find duplicates) and as people read it. */
function subjectKey(s) {
  return `${s.kind}:${s.user_id ?? s.department_id ?? s.channel_id ?? s.role}`;
}

/** Pause and resume, which icons.js does not draw: its style, with these shapes. */
function playIcon(kind) {
  const svg = icon("plus", { size: 16 });
  const path = document.createElementNS(svg.namespaceURI, "path");
  path.setAttribute("d", kind === "pause" ? "M8 5v14M16 5v14" : "M7 5l12 7-12 7z");
  svg.replaceChildren(path);
  return svg;
}

/** The kind of a grant's subject at a glance (a channel's "#" is in its label). */
function subjectIcon(s) {
  const name = { user: "user", department: "building", role: "people" }[s.kind];
  return name ? icon(name, { size: 14 }) : null;
}

function subjectLabel(s, departments) {
  switch (s.kind) {
    case "user": return userName(s.user_id);
    case "department": {
      const d = departments.find((x) => x.id === s.department_id);
      return d ? d.path : `#${s.department_id}`;
    }
    case "channel": return `# ${state.channels.has(s.channel_id) ? channelName(s.channel_id) : s.channel_id}`;
    default: return roleName(s.role);
  }
}

/** What may be picked for each kind of subject: `[value, label]`, by label. */
function choices(kind, departments) {
  const byLabel = (a, b) => a[1].localeCompare(b[1]);
  switch (kind) {
    case "user":
      return [...state.users.values()].filter((u) => !u.disabled && u.id !== me().id)
        .map((u) => [u.id, u.email ? `${u.name} <${u.email}>` : u.name]).sort(byLabel);
    case "department":
      return departments.map((d) => [d.id, d.path]).sort(byLabel);
    case "channel":
      return [...state.channels.values()].map((s) => [s.channel.id, channelName(s.channel.id)]).sort(byLabel);
    default:
      return ROLES.map((r) => [r, roleName(r)]);
  }
}

function subjectOf(kind, value) {
  switch (kind) {
    case "user": return { kind, user_id: Number(value) };
    case "department": return { kind, department_id: Number(value) };
    case "channel": return { kind, channel_id: Number(value) };
    default: return { kind: "role", role: value };
  }
}

/**
 * The folder's grants, edited: whether it inherits from above, and rows of whom and what
 * level; people, departments, channels and roles added from lists. Resolves with the folder as
 * saved, or null.
 */
async function editGrants(data) {
  const departments = await api("GET", "/v1/departments").catch(() => []);
  const grants = (data.grants ? data.grants.grants : []).map((g) => ({ subject: g.subject, level: g.level }));
  return dialog(t("library.permissionsOf", { name: data.path.length === 1 ? rootLabel(data.folder) : data.folder.name }), (close) => {
    const inherit = h("input", { id: "grant-inherit", type: "checkbox", checked: data.grants ? data.grants.inherit : true });
    const rows = h("ul", { class: "grant-list", "aria-label": t("library.grants") });
    const error = h("p", { class: "form-error", role: "alert" });
    const levelSelect = (value, attrs) => h("select", attrs,
      LEVELS.map((l) => h("option", { value: l, selected: l === value }, levelName(l))));
    const draw = () => mount(rows, grants.length ? grants.map((g, i) => h("li", {
      class: "grant-row", dataset: { subject: subjectKey(g.subject) },
    },
      h("span", { class: "grant-subject" }, subjectIcon(g.subject), subjectLabel(g.subject, departments)),
      levelSelect(g.level, {
        "aria-label": t("library.levelFor", { name: subjectLabel(g.subject, departments) }),
        onchange: (e) => { g.level = e.target.value; },
      }),
      h("button", {
        type: "button", class: "icon", title: t("library.removeGrant"), "aria-label": t("library.removeGrant"),
        onclick: () => {
          grants.splice(i, 1);
          draw();
        },
      }, icon("close")))) : h("li", { class: "muted" }, t("library.noGrants")));
    const kind = h("select", { id: "grant-kind", "aria-label": t("library.grantKind") },
      h("option", { value: "user" }, t("library.subject.user")),
      h("option", { value: "department" }, t("library.subject.department")),
      h("option", { value: "channel" }, t("library.subject.channel")),
      h("option", { value: "role" }, t("library.subject.role")));
    const filter = h("input", { id: "grant-filter", type: "search", placeholder: t("library.filter"), "aria-label": t("library.filter") });
    const subject = h("select", { id: "grant-subject", "aria-label": t("library.grantSubject") });
    const level = levelSelect("view", { id: "grant-level", "aria-label": t("library.grantLevel") });
    const fillSubjects = () => {
      const words = filter.value.trim().toLowerCase();
      const list = choices(kind.value, departments).filter(([, label]) => !words || label.toLowerCase().includes(words));
      mount(subject, list.map(([value, label]) => h("option", { value }, label)));
      filter.hidden = kind.value === "role";
    };
    kind.addEventListener("change", fillSubjects);
    filter.addEventListener("input", fillSubjects);
    fillSubjects();
    const add = () => {
      if (!subject.value) return;
      const s = subjectOf(kind.value, subject.value);
      const same = grants.find((g) => subjectKey(g.subject) === subjectKey(s));
      if (same) same.level = level.value;
      else grants.push({ subject: s, level: level.value });
      draw();
    };
    draw();
    return h("form", {
      class: "grants-form",
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          close(await api("PUT", `/v1/folders/${data.folder.id}/grants`, { inherit: inherit.checked, grants }));
        } catch (err) {
          error.textContent = err.message;
        }
      },
    },
      h("label", { class: "check" }, inherit, " ", t("library.inherit")),
      h("p", { class: "muted small-print" }, t("library.grantsExplain")),
      rows,
      h("fieldset", { class: "grant-add" },
        h("legend", null, t("library.addGrant")),
        kind, filter, subject, level,
        h("button", { type: "button", id: "grant-add", onclick: add }, icon("plus"), t("library.add"))),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
        h("button", { type: "submit", class: "primary" }, t("library.save"))));
  });
}

// --- The trash --------------------------------------------------------------------------------

async function renderTrash(show) {
  const { files } = await api("GET", "/v1/files?trash=true");
  const section = h("section", { class: "page library-trash" });
  const draw = (list) => mount(section,
    header(t("library.trash"), "#/files"),
    h("p", { class: "muted" }, t("library.trashExplain")),
    list.length ? h("ul", { class: "lib-list", "aria-label": t("library.trash") }, list.map((f) => h("li", {
      class: "lib-row lib-file", dataset: { file: f.id, name: f.name },
    },
      fileIcon(f.name, f.mime),
      h("div", { class: "lib-main" },
        h("span", { class: "lib-name" }, f.name),
        h("span", { class: "lib-meta" }, formatSize(f.size), " · ", `v${f.version}`, " · ",
          t("library.deletedAt", { time: formatTime(f.deleted_at) }))),
      h("div", { class: "lib-actions" },
        h("button", {
          type: "button", class: "small", dataset: { action: "restore" },
          "aria-label": `${t("library.restore")}: ${f.name}`,
          onclick: async () => {
            try {
              const file = await api("POST", `/v1/files/${f.id}/restore`, null);
              toast(t("library.restoredFile", { name: f.name }));
              if (file.folder) location.hash = `#/files/${file.folder}`;
              else draw(list.filter((x) => x.id !== f.id));
            } catch (err) {
              showError(err);
            }
          },
        }, icon("history"), t("library.restore")))))) : h("div", { class: "empty" }, t("library.trashEmpty")));
  draw(files);
  show(section);
}
