// An article of the knowledge base in the web app. Reading it (`#/articles/{id}`, an older
// version at `#/articles/{id}/v/{n}`): its Markdown rendered (markdown.js), its scope, tags,
// author, version and status, the reviewer's comment, the meeting recording kept with it, "was
// this helpful?", comments, the review steps the reader may take (submit, publish, return,
// delete), its attachments, and its history with a line-by-line diff between two versions.
// Editing it (`#/articles/{id}/edit`): title, scope, tags, the Markdown with a live preview beside
// it (or a tab away on a phone), and the files it carries (picked from the library or uploaded
// to the author's own files, each put in the text as `![name](file:12)` at the cursor), saved as
// a new version on top of the one the edit started from, so that someone else's newer version
// is never overwritten. A `file:12` in the text is read through the article
// (`/v1/articles/{id}/files/12`), so readers who may not open the author's library still see
// it. The REST API is in docs/protocol.md, "Knowledge base".

import { t } from "./i18n.js";
import {
  h, mount, api, me, mediaUrl, formatTime, formatDate, formatSize, showError, toast, dialog, Upload, downloadLink,
  confirmAction,
} from "./ui.js";
import { state, userName } from "./app.js";
import { renderMarkdown } from "./markdown.js";
import { statusTag, tagLinks, splitTags, header, failed, crumbs } from "./knowledge.js";
import { fileIcon } from "./attachments.js";
import { icon } from "./icons.js";

/** Longest title, scope and body the server takes. */
const MAX_TITLE = 200;
const MAX_SCOPE = 500;
const MAX_BODY = 200_000;
/** Most files an article carries. */
const MAX_ATTACHMENTS = 20;
/** A preview that took longer than this (ms) to draw waits for a pause in the typing. */
const SLOW_PREVIEW_MS = 40;
const PREVIEW_PAUSE_MS = 300;

/** `#/articles/{id}`, `#/articles/{id}/v/{n}`, `#/articles/{id}/edit`. */
export function renderArticle(main, parts) {
  const [, id, action, version] = parts;
  if (action === "edit") new ArticleEditor(main, Number(id));
  else new ArticleView(main, Number(id), action === "v" ? Number(version) || null : null);
}

/**
 * An article's Markdown; images from the library carry the reader's access token, as media do,
 * and `file:12` is `files(12)`, the attachment's address.
 */
const markdown = (text, files) => renderMarkdown(text, {
  image: (url) => (/^\/v1\/files\/\d+\/content(\?|$)/.test(url) ? mediaUrl(url) : url),
  files,
});

/** Where the article's attachment is read: through the article, so its readers may. */
const attachmentPath = (article, file) => `/v1/articles/${article}/files/${file}`;

/** A file the browser shows as an image: put in the text as `![…]`, previewed in the lists. */
const isImage = (f) => Boolean(f.thumbnail) || /^image\/(png|jpe?g|gif|webp|bmp|avif)$/i.test(f.mime || "");

/** A small preview of an image (`src` its address, or a promise of one), else the file's icon. */
function fileBadge(f, src) {
  if (!isImage(f)) return fileIcon(f.name, f.mime);
  const img = h("img", { class: "kb-file-thumb", alt: "", loading: "lazy" });
  Promise.resolve(src).then((url) => { img.src = url; }, () => {});
  return img;
}

// --- Reading ----------------------------------------------------------------------------------

/**
 * One article as the caller may see it. Follows the notifications about it: a publication or
 * a return redraws it (the comment box keeps what is being typed), a comment adds to the list.
 */
class ArticleView {
  constructor(main, id, version) {
    this.main = main;
    this.id = id;
    this.version = version;
    this.closed = false;
    this.article = null;
    this.top = h("div", { class: "kb-article-top" });
    this.content = h("article", { class: "kb-article-body" }, h("p", { class: "muted center" }, t("kb.loading")));
    this.files = h("section", { class: "kb-files", hidden: true, "aria-labelledby": "kb-files-title" });
    this.player = h("div", { class: "player kb-recording", hidden: true });
    this.feedback = h("div", { class: "kb-helpful", role: "group", "aria-labelledby": "kb-helpful-label", hidden: true });
    this.history = h("section", { class: "kb-history", id: "kb-history", hidden: true, "aria-labelledby": "kb-history-title" });
    this.commentList = h("ol", { class: "kb-comment-list", "aria-labelledby": "kb-comments-title" });
    this.commentCount = h("span", { class: "muted" });
    this.comments = h("section", { class: "kb-comments", "aria-labelledby": "kb-comments-title" },
      h("h2", { id: "kb-comments-title" }, t("kb.comments"), " ", this.commentCount), this.commentList, this.commentForm());
    this.root = h("section", { class: "page kb-article-page", dataset: { article: id } },
      this.top, this.content, this.files, this.player, this.feedback, this.history, this.comments);
    mount(main, this.root);
    state.views.add(this);
    this.load().then(() => this.loadComments());
  }

  close() {
    this.closed = true;
    state.views.delete(this);
  }

  onEvent(event) {
    const n = event.type === "notification" ? event.notification : null;
    if (!n || !n.article || n.article.id !== this.id) return;
    if (n.kind === "article_comment") this.loadComments();
    else this.load();
  }

  async load() {
    try {
      const a = await api("GET", `/v1/articles/${this.id}${this.version ? `?version=${this.version}` : ""}`);
      if (!this.closed) this.show(a);
    } catch (err) {
      if (!this.closed) failed(this.main, err);
    }
  }

  show(a) {
    const first = !this.article;
    this.article = a;
    Object.assign(this.root.dataset, { status: a.status, version: a.shown_version, space: a.space_id });
    const mine = a.author === me().id;
    const act = (action, label, fn, attrs = {}) => h("button", {
      type: "button", class: "small", dataset: { action }, ...attrs,
      onclick: (e) => Promise.resolve(fn(e.currentTarget)).catch(showError),
    }, label);
    const actions = h("div", { class: "lib-toolbar kb-actions", role: "toolbar", "aria-label": t("kb.actions") },
      a.can_edit ? h("a", { class: "button small", href: `#/articles/${a.id}/edit`, dataset: { action: "edit" } }, icon("edit"), t("kb.edit")) : null,
      a.can_edit && mine && (a.status === "draft" || a.status === "returned")
        ? act("submit", [icon("send"), t("kb.submit")], () => this.step("submit"), { class: "small primary" }) : null,
      a.can_review && (a.status === "submitted" || (mine && a.status !== "published"))
        ? act("publish", [icon("check"), t("kb.publish")], () => this.publish(), { class: "small primary" }) : null,
      a.can_review && a.status === "submitted" ? act("return", [icon("reply"), t("kb.return")], () => this.giveBack()) : null,
      act("history", [icon("history"), t("kb.history")], (button) => this.toggleHistory(button),
        { "aria-expanded": String(!this.history.hidden), "aria-controls": "kb-history" }),
      a.can_edit && (a.can_review || !a.published_version) ? act("delete", [icon("trash"), t("kb.delete")], () => this.remove()) : null);
    let note = null;
    if (this.version) note = [t("kb.oldVersion", { n: a.shown_version }), " ", h("a", { href: `#/articles/${a.id}` }, t("kb.toCurrent"))];
    else if (!a.published_version) note = t("kb.notPublished");
    else if (a.shown_version !== a.published_version) note = t("kb.unpublishedChanges", { n: a.shown_version, m: a.published_version });
    const review = a.review && a.review.comment ? h("div", { class: "kb-review", dataset: { outcome: a.review.outcome }, role: a.status === "returned" ? "alert" : null },
      h("strong", null, t(`kb.review.${a.review.outcome}`, { name: userName(a.review.by), time: formatTime(a.review.at) })),
      h("p", null, a.review.comment)) : null;
    mount(this.top,
      header(a.title, `#/kb/${a.space_id}`, statusTag(a.status),
        a.stale ? h("span", { class: "tag kb-stale", title: t("kb.staleExplain") }, t("kb.stale")) : null),
      crumbs(a.space_id),
      h("div", { class: "kb-meta" },
        a.scope ? h("div", { class: "kb-scope" }, h("span", { class: "muted" }, t("kb.scopeLabel")), a.scope) : null,
        a.tags.length ? h("div", { class: "kb-tags" }, tagLinks(a.space_id, a.tags)) : null,
        h("div", { class: "lib-meta" },
          h("span", { class: "kb-author", dataset: { user: a.author } }, t("kb.by", { name: userName(a.author) })), " · ",
          h("time", { datetime: new Date(a.updated_at).toISOString() }, t("kb.updated", { date: formatDate(a.updated_at) })), " · ",
          h("span", { class: "kb-version" }, t("kb.versionOf", { n: a.shown_version, m: a.version })), " · ",
          h("span", { class: "kb-reads" }, t("kb.reads", { n: a.reads })),
          a.meeting_id ? [" · ", h("a", { href: `#/minutes/${a.meeting_id}` }, t("kb.fromMeeting"))] : null)),
      note ? h("p", { class: "kb-note" }, note) : null,
      review,
      actions);
    mount(this.content, markdown(a.body, (file) => mediaUrl(attachmentPath(a.id, file))));
    this.drawFiles(a.attachments || []);
    if (first && a.recording_id) this.showRecording();
    this.feedback.hidden = !a.published_version;
    this.drawVotes();
  }

  /** The files the version shown carries: an image's preview, each one's name downloading it. */
  drawFiles(files) {
    this.files.hidden = !files.length;
    mount(this.files, h("h2", { id: "kb-files-title" }, t("kb.att.title"), " ", h("span", { class: "muted" }, `(${files.length})`)),
      h("ul", { class: "lib-list kb-file-list" }, files.map((f) => {
        const path = attachmentPath(this.id, f.id);
        return h("li", { class: "lib-row kb-file", dataset: { file: f.id } },
          fileBadge(f, mediaUrl(path)),
          h("div", { class: "lib-main" },
            downloadLink(`${path}?download=true`, f.name,
              { class: "lib-name kb-file-name", title: t("attach.download", { name: f.name }) }, f.name),
            h("span", { class: "lib-meta" }, formatSize(f.size))));
      })));
  }

  /** The meeting's recording kept with the article; `<audio>` sends no header, so the token rides in the address. */
  async showRecording() {
    const src = await mediaUrl(`/v1/articles/${this.id}/recording`);
    if (this.closed) return;
    mount(this.player, h("h2", null, t("kb.recording")),
      h("audio", { controls: true, preload: "metadata", id: "article-recording", src }));
    this.player.hidden = false;
  }

  drawVotes() {
    const a = this.article;
    const mine = a.my_vote ?? null;
    const button = (helpful) => h("button", {
      type: "button", class: "small", dataset: { vote: helpful ? "yes" : "no" }, "aria-pressed": String(mine === helpful),
      onclick: () => this.vote(helpful).catch(showError),
    }, icon(helpful ? "thumbs-up" : "thumbs-down"), t(helpful ? "kb.yes" : "kb.no"), " ",
    h("span", { class: "kb-vote-count" }, helpful ? a.helpful : a.unhelpful));
    mount(this.feedback, h("span", { id: "kb-helpful-label" }, t("kb.helpful")), button(true), button(false));
  }

  /** "Was this helpful?": the same answer again takes it back; the other changes it. */
  async vote(helpful) {
    const a = this.article;
    const before = a.my_vote ?? null;
    if (before === helpful) await api("DELETE", `/v1/articles/${a.id}/vote`);
    else await api("PUT", `/v1/articles/${a.id}/vote`, { helpful });
    a.my_vote = before === helpful ? null : helpful;
    if (before === true) a.helpful -= 1;
    if (before === false) a.unhelpful -= 1;
    if (a.my_vote === true) a.helpful += 1;
    if (a.my_vote === false) a.unhelpful += 1;
    this.drawVotes();
    this.feedback.querySelector(`[data-vote="${helpful ? "yes" : "no"}"]`).focus();
  }

  async step(action, body = null) {
    await api("POST", `/v1/articles/${this.id}/${action}`, body);
    toast(t(`kb.done.${action}`));
    await this.load();
  }

  async publish() {
    const comment = await askComment(t("kb.publishTitle", { title: this.article.title }), { required: false, submit: t("kb.publish") });
    if (comment !== null) await this.step("publish", { comment });
  }

  async giveBack() {
    const comment = await askComment(t("kb.returnTitle", { title: this.article.title }), { required: true, submit: t("kb.return") });
    if (comment !== null) await this.step("return", { comment });
  }

  async remove() {
    if (!(await confirmAction(t("kb.delete"), t("kb.deleteConfirm", { title: this.article.title }), t("kb.delete")))) return;
    await api("DELETE", `/v1/articles/${this.id}`);
    toast(t("kb.deleted", { title: this.article.title }));
    location.hash = `#/kb/${this.article.space_id}`;
  }

  // --- History --------------------------------------------------------------------------------

  async toggleHistory(button) {
    const open = this.history.hidden;
    this.history.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (!open) return;
    mount(this.history, h("p", { class: "muted" }, t("kb.loading")));
    const { versions } = await api("GET", `/v1/articles/${this.id}/versions`);
    const diff = h("div", { class: "kb-diff", "aria-live": "polite" });
    const choose = (id, label, selected) => [h("label", { for: id }, label), h("select", { id },
      versions.map((v) => h("option", { value: v.version, selected: v.version === selected }, `v${v.version} · ${formatTime(v.created_at)}`)))];
    const [fromLabel, from] = choose("diff-from", t("kb.diffFrom"), versions[1] ? versions[1].version : null);
    const [toLabel, to] = choose("diff-to", t("kb.diffTo"), versions[0] ? versions[0].version : null);
    const compare = async () => {
      mount(diff, h("p", { class: "muted" }, t("kb.loading")));
      try {
        const d = await api("GET", `/v1/articles/${this.id}/diff?from=${from.value}&to=${to.value}`);
        mount(diff, renderDiff(d));
      } catch (err) {
        mount(diff, h("p", { class: "form-error" }, err.message));
      }
    };
    mount(this.history,
      h("h2", { id: "kb-history-title" }, t("kb.history")),
      h("ol", { class: "version-list kb-versions" }, versions.map((v) => h("li", {
        class: `version-row${v.version === this.article.shown_version ? " current" : ""}`, dataset: { version: v.version },
      },
        h("div", { class: "version-head" },
          h("strong", null, `v${v.version}`),
          h("span", null, v.title),
          v.published_at ? h("span", { class: "tag kb-status", dataset: { status: "published" } }, t("kb.publishedOn", { date: formatDate(v.published_at) })) : null),
        h("div", { class: "lib-meta" }, userName(v.editor), " · ",
          h("time", { datetime: new Date(v.created_at).toISOString() }, formatTime(v.created_at)), " · ",
          h("a", { href: `#/articles/${this.id}/v/${v.version}` }, t("kb.readVersion"))),
        v.note ? h("p", { class: "version-comment" }, v.note) : null))),
      versions.length > 1 ? h("form", {
        class: "inline-form kb-compare",
        onsubmit: (e) => {
          e.preventDefault();
          compare();
        },
      }, fromLabel, from, toLabel, to, h("button", { type: "submit", id: "diff-compare" }, t("kb.compare"))) : h("p", { class: "muted" }, t("kb.oneVersion")),
      diff);
  }

  // --- Comments -------------------------------------------------------------------------------

  async loadComments() {
    try {
      const { comments } = await api("GET", `/v1/articles/${this.id}/comments`);
      if (!this.closed) this.drawComments(comments);
    } catch (err) {
      if (!this.closed) mount(this.commentList, h("li", { class: "muted" }, err.message));
    }
  }

  drawComments(comments) {
    this.commentCount.textContent = comments.length ? `(${comments.length})` : "";
    mount(this.commentList, comments.length ? comments.map((c) => h("li", { class: "kb-comment", dataset: { comment: c.id } },
      h("div", { class: "lib-meta" }, h("strong", null, userName(c.author)), " · ",
        h("time", { datetime: new Date(c.created_at).toISOString() }, formatTime(c.created_at))),
      h("p", null, c.body))) : h("li", { class: "muted" }, t("kb.noComments")));
  }

  /** The box for a new comment, made once so a redraw of the article keeps what is typed in it. */
  commentForm() {
    const body = h("textarea", { id: "kb-comment-body", rows: 2, maxlength: 4000, required: true, "aria-label": t("kb.commentLabel"), placeholder: t("kb.commentLabel") });
    const button = h("button", { type: "submit", class: "primary", id: "kb-comment-add" }, t("kb.comment"));
    return h("form", {
      class: "kb-comment-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const text = body.value.trim();
        if (!text) return;
        button.disabled = true;
        try {
          await api("POST", `/v1/articles/${this.id}/comments`, { body: text });
          body.value = "";
          await this.loadComments();
        } catch (err) {
          showError(err);
        } finally {
          button.disabled = false;
        }
      },
    }, body, button);
  }
}

/** A reviewer's words: `required` to return an article, optional to publish it. Null when dismissed. */
function askComment(title, { required, submit }) {
  return dialog(title, (close) => {
    const text = h("textarea", { id: "review-comment", rows: 3, maxlength: 4000, required });
    return h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        const comment = text.value.trim();
        if (required && !comment) return;
        close(comment);
      },
    },
      h("label", { for: "review-comment" }, required ? t("kb.returnComment") : t("kb.publishComment")), text,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
        h("button", { type: "submit", class: "primary", id: "review-submit" }, submit)));
  });
}

/**
 * A diff between two versions: the title, scope or tags that changed, then the body line by
 * line, added lines in green, removed ones struck through in red, and long unchanged runs said
 * in a row of their own.
 */
export function renderDiff(diff) {
  const fields = diff.fields.length ? h("dl", { class: "kb-diff-fields" }, diff.fields.map((f) => [
    h("dt", null, t(`kb.field.${f.field}`)),
    h("dd", null, h("del", null, f.from || "—"), " → ", h("ins", null, f.to || "—"))])) : null;
  const changed = diff.lines.some((line) => line.op && line.op !== "same");
  const lines = h("div", { class: "kb-diff-lines", "aria-label": t("kb.diffOf", { from: diff.from, to: diff.to }) },
    diff.lines.map((line) => {
      if (line.skipped !== undefined) return h("div", { class: "diff-line diff-skip" }, t("kb.skipped", { n: line.skipped }));
      const sign = { added: "+", removed: "−", same: " " }[line.op];
      const text = line.text || " ";
      return h("div", { class: "diff-line", dataset: { op: line.op } },
        h("span", { class: "diff-sign", "aria-hidden": "true" }, sign),
        line.op === "added" ? h("ins", null, text) : line.op === "removed" ? h("del", null, text) : h("span", null, text));
    }));
  return [
    h("h3", null, t("kb.diffOf", { from: diff.from, to: diff.to })),
    fields,
    changed ? lines : h("p", { class: "muted" }, fields ? t("kb.bodySame") : t("kb.noDifference")),
  ];
}

// --- Editing ----------------------------------------------------------------------------------

/**
 * The editor: the latest version's fields, Markdown and files, its preview drawn as the text
 * changes. Leaving the page with unsaved changes asks first.
 */
class ArticleEditor {
  constructor(main, id) {
    this.main = main;
    this.id = id;
    this.closed = false;
    this.dirty = false;
    this.saving = false;
    this.timer = null;
    this.cost = 0;
    /** The files the article is to carry: `{id, name, size, mime, thumbnail}`, in order. */
    this.attached = [];
    /** Those the latest version carries, which the article's route serves to its editors. */
    this.saved = new Set();
    /** Uploads under way, attached once they are files. */
    this.uploads = [];
    this.root = h("section", { class: "page kb-editor-page", dataset: { article: id } }, h("p", { class: "muted center" }, t("kb.loading")));
    mount(main, this.root);
    this.beforeUnload = (e) => {
      if (!this.dirty) return;
      e.preventDefault();
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", this.beforeUnload);
    state.views.add(this);
    this.load();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener("beforeunload", this.beforeUnload);
    state.views.delete(this);
  }

  onEvent() {
    // A newer version saved meanwhile is found when this one is saved (`conflict`).
  }

  async load() {
    try {
      const a = await api("GET", `/v1/articles/${this.id}`);
      if (this.closed) return;
      if (!a.can_edit) {
        mount(this.root, header(a.title, `#/articles/${a.id}`), h("div", { class: "empty", role: "alert" }, t("kb.mayNotEdit")));
        return;
      }
      this.show(a);
    } catch (err) {
      if (!this.closed) failed(this.main, err);
    }
  }

  show(a) {
    this.base = a.version;
    this.attached = (a.attachments || []).map(({ id, name, size, mime, thumbnail }) => ({ id, name, size, mime, thumbnail }));
    this.saved = new Set(this.attached.map((f) => f.id));
    const field = (id, label, input) => [h("label", { for: id }, label), input];
    this.title = h("input", { id: "article-title", required: true, maxlength: MAX_TITLE, value: a.title, oninput: () => { this.dirty = true; } });
    this.scope = h("input", { id: "article-scope", maxlength: MAX_SCOPE, value: a.scope, placeholder: t("kb.scopeHint"), oninput: () => { this.dirty = true; } });
    this.tags = h("input", { id: "article-tags", value: a.tags.join(", "), placeholder: t("kb.tagsHint"), oninput: () => { this.dirty = true; } });
    this.note = h("input", { id: "article-note", maxlength: 500, placeholder: t("kb.noteHint") });
    this.body = h("textarea", {
      id: "article-body", value: a.body, maxlength: MAX_BODY, spellcheck: "true", "aria-label": t("kb.body"),
      oninput: () => {
        this.dirty = true;
        this.schedulePreview();
      },
    });
    this.preview = h("div", { class: "kb-preview", id: "article-preview", role: "region", "aria-label": t("kb.preview") });
    this.error = h("p", { class: "form-error", role: "alert" });
    this.saveButton = h("button", { type: "submit", class: "primary", id: "article-save" }, t("kb.save"));
    const panes = h("div", { class: "kb-panes", dataset: { pane: "write" } },
      h("div", { class: "kb-pane kb-pane-write" }, h("label", { class: "kb-pane-label muted", for: "article-body" }, t("kb.body")), this.body),
      h("div", { class: "kb-pane kb-pane-preview" }, h("div", { class: "kb-pane-label muted", "aria-hidden": "true" }, t("kb.preview")), this.preview));
    // On a phone the two panes take turns: a tab for each.
    const paneTab = (name, label) => h("button", {
      type: "button", role: "tab", class: "small", dataset: { pane: name }, "aria-selected": String(name === "write"),
      onclick: () => {
        panes.dataset.pane = name;
        for (const b of switcher.querySelectorAll("button")) b.setAttribute("aria-selected", String(b.dataset.pane === name));
        if (name === "preview") this.renderPreview();
      },
    }, label);
    const switcher = h("div", { class: "kb-pane-tabs", role: "tablist", "aria-label": t("kb.editorView") },
      paneTab("write", t("kb.write")), paneTab("preview", t("kb.preview")));
    const returned = a.status === "returned" && a.review && a.review.comment
      ? h("div", { class: "kb-review", dataset: { outcome: "returned" } },
        h("strong", null, t("kb.review.returned", { name: userName(a.review.by), time: formatTime(a.review.at) })), h("p", null, a.review.comment))
      : null;
    mount(this.root, h("form", {
      class: "kb-editor",
      onsubmit: (e) => {
        e.preventDefault();
        this.save();
      },
      onkeydown: (e) => {
        if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
          e.preventDefault();
          this.save();
        }
      },
    },
      header(t("kb.editing", { title: a.title }), `#/articles/${a.id}`, statusTag(a.status)),
      returned,
      h("div", { class: "kb-fields" },
        field("article-title", t("kb.title"), this.title),
        field("article-scope", t("kb.scope"), this.scope),
        field("article-tags", t("kb.tags"), this.tags)),
      switcher,
      panes,
      this.attachmentsSection(),
      markdownHelp(),
      h("div", { class: "kb-fields" }, field("article-note", t("kb.note"), this.note)),
      this.error,
      h("div", { class: "kb-editor-actions" },
        h("span", { class: "muted" }, t("kb.editingVersion", { n: a.version })),
        h("a", { class: "button", href: `#/articles/${a.id}` }, t("cancel")),
        this.saveButton)));
    this.renderPreview();
  }

  /** At once while drawing is quick; after a pause in the typing when the text is long. */
  schedulePreview() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => requestAnimationFrame(() => this.renderPreview()), this.cost > SLOW_PREVIEW_MS ? PREVIEW_PAUSE_MS : 0);
  }

  renderPreview() {
    if (this.closed) return;
    const started = performance.now();
    mount(this.preview, markdown(this.body.value, (file) => mediaUrl(this.fileAddress(file))));
    this.cost = performance.now() - started;
  }

  /**
   * Where the editor reads a file: through the article when its latest version carries it (an
   * admin editing may not open the author's library), else straight from the library, where
   * the editor just picked or uploaded it.
   */
  fileAddress(file) {
    return this.saved.has(file) ? attachmentPath(this.id, file) : `/v1/files/${file}/content`;
  }

  // --- Attachments ------------------------------------------------------------------------------

  attachmentsSection() {
    this.fileList = h("ul", { class: "lib-list kb-file-list", "aria-labelledby": "kb-att-title" });
    this.fileCount = h("span", { class: "muted kb-att-count" });
    this.uploadInput = h("input", {
      type: "file", multiple: true, hidden: true, id: "article-upload", tabindex: "-1",
      onchange: () => {
        this.upload([...this.uploadInput.files]);
        this.uploadInput.value = "";
      },
    });
    const act = (action, label, fn) => h("button", {
      type: "button", class: "small", dataset: { action }, onclick: () => Promise.resolve(fn()).catch(showError),
    }, label);
    const section = h("section", { class: "kb-attachments", "aria-labelledby": "kb-att-title" },
      h("div", { class: "kb-att-head" },
        h("h2", { id: "kb-att-title" }, t("kb.att.title"), " ", this.fileCount),
        h("div", { class: "lib-toolbar", role: "toolbar", "aria-label": t("kb.att.title") },
          act("attach-library", [icon("folder"), t("kb.att.fromLibrary")], () => this.pick()),
          act("attach-upload", [icon("upload"), t("kb.att.upload")], () => this.uploadInput.click()))),
      h("p", { class: "muted small-print" }, t("kb.att.explain")),
      this.fileList, this.uploadInput);
    this.drawFiles();
    return section;
  }

  /** Room for more files: what is attached and what is on its way count. */
  get room() {
    return MAX_ATTACHMENTS - this.attached.length - this.uploads.length;
  }

  /** The list of files and of uploads under way; the keyboard stays on the button it was on. */
  drawFiles() {
    const was = document.activeElement;
    const again = was && this.fileList.contains(was) && was.dataset.action
      ? `[data-file="${was.closest("[data-file]")?.dataset.file}"] [data-action="${was.dataset.action}"]` : null;
    this.fileCount.textContent = `(${this.attached.length}/${MAX_ATTACHMENTS})`;
    const rows = [
      ...this.attached.map((f) => this.fileRow(f)),
      ...this.uploads.map((u) => this.uploadRow(u)),
    ];
    mount(this.fileList, rows.length ? rows : h("li", { class: "muted kb-att-none" }, t("kb.att.none")));
    const target = again && this.fileList.querySelector(again);
    if (target) target.focus();
    else if (again) this.fileList.closest(".kb-attachments").querySelector('[data-action="attach-library"]').focus();
  }

  fileRow(f) {
    const button = (action, icon, label, fn) => h("button", {
      type: "button", class: "small", dataset: { action }, title: label, "aria-label": `${label}: ${f.name}`, onclick: fn,
    }, icon, h("span", { class: "label" }, label));
    return h("li", { class: "lib-row kb-file", dataset: { file: f.id, name: f.name } },
      fileBadge(f, mediaUrl(this.fileAddress(f.id))),
      h("div", { class: "lib-main" },
        h("span", { class: "lib-name", title: f.name }, f.name),
        h("span", { class: "lib-meta" }, formatSize(f.size), this.saved.has(f.id) ? null : [" · ", t("kb.att.notSaved")])),
      h("div", { class: "lib-actions" },
        button("insert", icon("arrowDown"), t("kb.att.insert"), () => this.insertFile(f)),
        button("detach", icon("close"), t("kb.att.remove"), () => {
          this.attached = this.attached.filter((x) => x.id !== f.id);
          this.dirty = true;
          this.drawFiles();
        })));
  }

  uploadRow(u) {
    const failedNow = u.state === "failed";
    return h("li", { class: "lib-row kb-file kb-uploading", dataset: { upload: u.name, state: u.state } },
      fileIcon(u.name, u.file.type),
      h("div", { class: "lib-main" },
        h("span", { class: "lib-name", title: u.name }, u.name),
        failedNow ? h("span", { class: "lib-meta form-error" }, t("attach.failed", { reason: u.error.message }))
          : h("progress", { max: "1", value: String(u.file.size ? u.sent / u.file.size : 0), "aria-label": t("kb.att.uploading", { name: u.name }) })),
      h("div", { class: "lib-actions" },
        failedNow ? h("button", { type: "button", class: "small", onclick: () => u.resume() }, icon("history"), t("attach.retry")) : null,
        h("button", {
          type: "button", class: "small", title: t("attach.remove", { name: u.name }), "aria-label": t("attach.remove", { name: u.name }),
          onclick: () => {
            u.remove();
            this.uploads = this.uploads.filter((x) => x !== u);
            this.drawFiles();
          },
        }, icon("close"))));
  }

  /** Files from the library the editor may read; the ones chosen are attached. */
  async pick() {
    if (this.room <= 0) {
      toast(t("kb.att.full", { n: MAX_ATTACHMENTS }), "error");
      return;
    }
    const chosen = await pickFromLibrary(new Set(this.attached.map((f) => f.id)), this.room);
    if (!chosen || this.closed) return;
    for (const f of chosen) {
      if (!this.attached.some((x) => x.id === f.id)) this.attached.push(f);
    }
    this.dirty = true;
    this.drawFiles();
  }

  /** New files, uploaded to the author's own files (a file of the same name there gets a new version), then attached. */
  upload(files) {
    for (const file of files) {
      if (this.room <= 0) {
        toast(t("kb.att.full", { n: MAX_ATTACHMENTS }), "error");
        break;
      }
      const upload = new Upload(file, { onChange: () => this.uploadChanged(upload) });
      this.uploads.push(upload);
      upload.start();
    }
    this.drawFiles();
  }

  async uploadChanged(upload) {
    if (this.closed || !this.uploads.includes(upload)) return;
    if (upload.state !== "done") {
      this.drawFiles();
      return;
    }
    // What the server made of it: its type is read from the bytes, not the name.
    const made = await api("GET", `/v1/files/${upload.fileId}`).catch(() => null);
    if (this.closed) return;
    this.uploads = this.uploads.filter((x) => x !== upload);
    const f = made
      ? { id: made.id, name: made.name, size: made.size, mime: made.mime, thumbnail: Boolean(made.thumbnail) }
      : { id: upload.fileId, name: upload.name, size: upload.file.size, mime: upload.file.type, thumbnail: false };
    if (!this.attached.some((x) => x.id === f.id)) this.attached.push(f);
    this.dirty = true;
    this.drawFiles();
  }

  /** `![name](file:12)` for an image, on a line of its own; `[name](file:12)` for another file; at the cursor. */
  insertFile(f) {
    const image = isImage(f);
    const label = f.name.replace(/[\\[\]`*_~]/g, "\\$&");
    insertAt(this.body, `${image ? "!" : ""}[${label}](file:${f.id})`, image);
    this.dirty = true;
    this.schedulePreview();
  }

  async save() {
    if (this.saving) return;
    this.error.textContent = "";
    const title = this.title.value.trim();
    if (!title) {
      this.error.textContent = t("kb.titleNeeded");
      this.title.focus();
      return;
    }
    if (this.uploads.length) {
      this.error.textContent = t("kb.att.wait");
      return;
    }
    this.saving = true;
    this.saveButton.disabled = true;
    try {
      const saved = await api("PATCH", `/v1/articles/${this.id}`, {
        title, scope: this.scope.value.trim(), tags: splitTags(this.tags.value), body: this.body.value,
        attachments: this.attached.map((f) => f.id),
        note: this.note.value.trim() || undefined, base_version: this.base,
      });
      this.dirty = false;
      toast(t("kb.saved", { n: saved.version }));
      location.hash = `#/articles/${this.id}`;
    } catch (err) {
      if (err.status === 409) {
        // Someone saved a newer version since this edit began: nothing is overwritten, and the
        // text typed here stays for the author to carry over.
        mount(this.error, t("kb.conflict"), " ",
          h("a", { href: `#/articles/${this.id}`, target: "_blank", rel: "noopener" }, t("kb.seeLatest")));
      } else {
        this.error.textContent = err.message;
      }
    } finally {
      this.saving = false;
      this.saveButton.disabled = false;
    }
  }
}

/**
 * `text` put in place of the selection, the cursor after it. A `block` (an image) stands in a
 * paragraph of its own: blank lines around it where the text does not have them.
 */
function insertAt(area, text, block) {
  const { selectionStart: from, selectionEnd: to, value } = area;
  let before = "";
  let after = "";
  if (block) {
    const head = value.slice(0, from);
    const tail = value.slice(to);
    if (head && !head.endsWith("\n\n")) before = head.endsWith("\n") ? "\n" : "\n\n";
    if (!tail.startsWith("\n\n")) after = tail.startsWith("\n") ? "\n" : tail ? "\n\n" : "\n";
  }
  area.focus();
  area.setRangeText(before + text + after, from, to, "end");
}

/**
 * The library as a picker: the roots the caller can open and the folders shared with them, a
 * folder's subfolders and files; files are ticked (those `taken` already are, and stay), at most
 * `room` of them. Resolves with the files chosen (`{id, name, size, mime, thumbnail}`), or null.
 */
function pickFromLibrary(taken, room) {
  return dialog(t("kb.att.pickTitle"), (close) => {
    const chosen = new Map();
    const labels = new Map();
    const crumbsNav = h("nav", { class: "crumbs kb-pick-crumbs", "aria-label": t("library.path") });
    const list = h("ul", { class: "lib-list kb-pick-list", "aria-live": "polite" });
    const count = h("span", { class: "muted kb-pick-count" });
    const error = h("p", { class: "form-error", role: "alert" });
    const add = h("button", { type: "submit", class: "primary", id: "attach-pick-add", disabled: true }, t("kb.att.addChosen"));
    const counted = () => {
      count.textContent = t("kb.att.chosen", { n: chosen.size });
      add.disabled = !chosen.size;
    };
    const folderButton = (f, name) => h("li", { class: "lib-row lib-folder", dataset: { folder: f.id } },
      h("button", { type: "button", class: "link kb-pick-folder", onclick: () => go(f.id) },
        h("span", { class: "folder-icon", "aria-hidden": "true" }), " ", name));
    const fileChoice = (f) => {
      const box = h("input", {
        type: "checkbox", checked: taken.has(f.id) || chosen.has(f.id), disabled: taken.has(f.id),
        onchange: () => {
          error.textContent = "";
          if (box.checked && chosen.size >= room) {
            box.checked = false;
            error.textContent = t("kb.att.full", { n: MAX_ATTACHMENTS });
            return;
          }
          if (box.checked) chosen.set(f.id, { id: f.id, name: f.name, size: f.size, mime: f.mime, thumbnail: Boolean(f.thumbnail) });
          else chosen.delete(f.id);
          counted();
        },
      });
      return h("li", { class: "lib-row lib-file", dataset: { file: f.id, name: f.name } },
        h("label", { class: "check kb-pick-file" }, box, " ", fileIcon(f.name, f.mime),
          h("span", { class: "lib-main" }, h("span", { class: "lib-name" }, f.name),
            h("span", { class: "lib-meta" }, formatSize(f.size), taken.has(f.id) ? [" · ", t("kb.att.already")] : null))));
    };
    // Only the folder asked for last is drawn, however the answers arrive.
    let asked = 0;
    const go = async (folder) => {
      const mine = ++asked;
      mount(list, h("li", { class: "muted" }, t("kb.loading")));
      try {
        if (folder === null) {
          const { roots, shared } = await api("GET", "/v1/folders");
          if (mine !== asked) return;
          const own = (f) => f.root && f.root.kind === "user" && f.root.user_id === me().id;
          for (const f of [...roots, ...shared]) labels.set(f.id, own(f) ? t("library.myFiles") : f.name);
          mount(crumbsNav, h("span", { "aria-current": "page" }, t("nav.files")));
          mount(list, [...roots, ...shared].map((f) => folderButton(f, labels.get(f.id))));
          return;
        }
        const data = await api("GET", `/v1/folders/${folder}`);
        if (mine !== asked) return;
        mount(crumbsNav, h("button", { type: "button", class: "link", onclick: () => go(null) }, t("nav.files")),
          data.path.map((c, i) => [h("span", { class: "sep", "aria-hidden": "true" }, "›"),
            i === data.path.length - 1
              ? h("span", { "aria-current": "page" }, labels.get(c.id) || c.name)
              : h("button", { type: "button", class: "link", onclick: () => go(c.id) }, labels.get(c.id) || c.name)]));
        const rows = [...data.folders.map((f) => folderButton(f, f.name)), ...data.files.map(fileChoice)];
        mount(list, rows.length ? rows : h("li", { class: "muted" }, t("library.empty")));
      } catch (err) {
        if (mine === asked) mount(list, h("li", { class: "form-error" }, err.message));
      }
    };
    go(null);
    counted();
    return h("form", {
      class: "kb-picker",
      onsubmit: (e) => {
        e.preventDefault();
        if (chosen.size) close([...chosen.values()]);
      },
    },
      crumbsNav, list, error,
      h("div", { class: "dialog-actions" }, count,
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")), add));
  });
}

/** What Markdown the editor understands, each with its syntax. */
function markdownHelp() {
  const rows = [
    ["## 标题 Heading", t("kb.md.heading")],
    ["**bold** *italic* ~~struck~~", t("kb.md.emphasis")],
    ["`code`  ```", t("kb.md.code")],
    ["- item   1. item", t("kb.md.list")],
    ["- [ ] task   - [x] done", t("kb.md.task")],
    ["[text](https://…)  ![image](file:12)", t("kb.md.link")],
    ["> quote   ---", t("kb.md.quote")],
    ["| a | b |\n|---|---|", t("kb.md.table")],
  ];
  return h("details", { class: "kb-md-help search-tips" },
    h("summary", null, t("kb.md.help")),
    h("dl", null, rows.map(([code, text]) => [h("dt", null, h("code", null, code)), h("dd", null, text)])));
}
