// The knowledge base in the web app: the spaces a person may read (`#/kb`), with a new-space
// form for admins and department admins (a one-click onboarding space among them), and a space
// (`#/kb/{id}`): its published articles (filtered by a tag: `#/kb/{id}/tag/{tag}`), the most
// read of the month, the person's own articles (`#/kb/{id}/mine`) and, for its knowledge admins,
// the review queue (`#/kb/{id}/review`); new articles, blank or from a template, and whom the
// space names. Articles themselves are read and edited in article.js. Everything goes through
// the public REST API (docs/protocol.md, "Knowledge base").

import { t, lang } from "./i18n.js";
import { h, mount, api, me, formatDate, showError, toast, dialog } from "./ui.js";
import { state, userName, channelName } from "./app.js";
import { icon } from "./icons.js";

/** Articles per page of a list (the server allows up to 200). */
const PAGE = 50;
const ROLES = ["admin", "writer", "reader"];

/** The templates' language for the UI's: `zh` or `en`. */
export const kbLang = () => (lang() === "zh-CN" ? "zh" : "en");

export function statusTag(status) {
  return h("span", { class: "tag kb-status", dataset: { status } }, t(`kb.status.${status}`));
}

export function levelTag(level) {
  return h("span", { class: "tag kb-level", dataset: { level } }, t(`kb.level.${level}`));
}

/** Tags as small links to the space's list of articles with that tag. */
export function tagLinks(space, tags) {
  return (tags || []).map((tag) => h("a", {
    class: "tag kb-tag", href: `#/kb/${space}/tag/${encodeURIComponent(tag)}`, dataset: { tag },
  }, tag));
}

/** What a person typed as tags: split at commas (also the Chinese ones) and 、, without repeats. */
export function splitTags(text) {
  return [...new Set(String(text).split(/[,，、;；]/).map((tag) => tag.trim()).filter(Boolean))];
}

export function header(title, back, ...extra) {
  return h("header", { class: "view-header" },
    h("a", { href: back, class: "back icon", "aria-label": t("back") }, icon("back")),
    h("div", { class: "title" }, h("h1", null, title), ...extra));
}

/** Space id → name, as far as the lists shown so far say: for the path above an article. */
const spaceNames = new Map();

/**
 * The path to a space (and what is in it): "Knowledge › space". A space not listed yet is named
 * once its details come.
 */
export function crumbs(space) {
  const name = h("a", { href: `#/kb/${space}`, dataset: { crumb: space } }, spaceNames.get(space) || "…");
  if (!spaceNames.has(space)) {
    api("GET", `/v1/spaces/${space}`).then((d) => {
      spaceNames.set(space, d.space.name);
      name.textContent = d.space.name;
    }, () => {});
  }
  return h("nav", { class: "crumbs kb-crumbs", "aria-label": t("kb.path") },
    h("a", { href: "#/kb" }, t("nav.kb")), h("span", { class: "sep", "aria-hidden": "true" }, "›"), name);
}

/** A space or article that is gone, or not the user's to see; or another failure, said as it is. */
export function failed(main, err, back = "#/kb") {
  const gone = err && (err.status === 404 || err.status === 403);
  mount(main, h("section", { class: "page" }, header(t("nav.kb"), back),
    h("div", { class: "empty", role: "alert" }, gone ? t("kb.notFound") : err.message)));
  if (!gone) showError(err);
}

/** `#/kb`, `#/kb/{id}`, `#/kb/{id}/mine`, `#/kb/{id}/review`, `#/kb/{id}/tag/{tag}`. */
export function renderKnowledge(main, parts) {
  const [, space, tab, tag] = parts;
  if (!space) {
    const here = location.hash;
    renderSpaces(main).catch((err) => location.hash === here && failed(main, err, "#/"));
    return;
  }
  const filter = tab === "tag" && tag ? decodeURIComponent(tag) : null;
  new SpaceView(main, Number(space), { tab: tab === "mine" || tab === "review" ? tab : "published", tag: filter });
}

// --- The spaces -------------------------------------------------------------------------------

const mayCreateSpaces = () => ["admin", "dept_admin"].includes(me().role);

async function renderSpaces(main) {
  const here = location.hash;
  const { spaces } = await api("GET", "/v1/spaces");
  if (location.hash !== here) return;
  for (const s of spaces) spaceNames.set(s.id, s.name);
  const card = (s) => h("li", null,
    h("a", { class: "kb-space", href: `#/kb/${s.id}`, dataset: { space: s.id, level: s.level } },
      h("span", { class: "lib-kind kb-space-icon", "aria-hidden": "true" }, icon(s.department_id ? "building" : "book")),
      h("span", { class: "kb-space-main" },
        h("span", { class: "kb-space-name" }, s.name),
        s.description ? h("span", { class: "kb-space-description" }, s.description) : null,
        h("span", { class: "lib-meta" },
          levelTag(s.level), " ",
          h("span", { class: "kb-count" }, t("kb.published", { n: s.articles })),
          s.archived_at ? [" ", h("span", { class: "tag lib-archived" }, t("kb.archived"))] : null)),
      s.level === "admin" && s.pending > 0
        ? h("span", { class: "badge kb-pending", title: t("kb.pending", { n: s.pending }), "aria-label": t("kb.pending", { n: s.pending }) }, s.pending)
        : null));
  const active = spaces.filter((s) => !s.archived_at);
  const archived = spaces.filter((s) => s.archived_at);
  mount(main, h("section", { class: "page kb-home" },
    header(t("nav.kb"), "#/",
      mayCreateSpaces() ? h("button", { type: "button", class: "small primary", dataset: { action: "new-space" }, onclick: () => newSpace().catch(showError) },
        icon("plus"), t("kb.newSpace")) : null),
    h("p", { class: "muted" }, t("kb.explain")),
    active.length
      ? h("ul", { class: "kb-spaces", "aria-label": t("kb.spaces") }, active.map(card))
      : h("div", { class: "empty" }, mayCreateSpaces() ? t("kb.noSpacesCreate") : t("kb.noSpaces")),
    archived.length ? h("details", { class: "kb-archived" },
      h("summary", null, t("kb.archivedSpaces", { n: archived.length })),
      h("ul", { class: "kb-spaces" }, archived.map(card))) : null));
}

/** The new-space form: name, description, department (none: a topic space), onboarding. */
async function newSpace() {
  const departments = await api("GET", "/v1/departments").catch(() => []);
  const created = await dialog(t("kb.newSpace"), (close) => {
    const name = h("input", { id: "space-name", required: true, maxlength: 100 });
    const description = h("textarea", { id: "space-description", rows: 2, maxlength: 2000 });
    const department = h("select", { id: "space-department" },
      h("option", { value: "" }, t("kb.topicSpace")),
      [...departments].sort((a, b) => a.path.localeCompare(b.path)).map((d) => h("option", { value: d.id }, d.path)));
    const onboarding = h("input", { id: "space-onboarding", type: "checkbox" });
    const error = h("p", { class: "form-error", role: "alert" });
    return h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        const body = { name: name.value.trim(), description: description.value.trim() };
        if (!body.name) return;
        if (department.value) body.department_id = Number(department.value);
        if (onboarding.checked) Object.assign(body, { template: "onboarding", lang: kbLang() });
        try {
          close(await api("POST", "/v1/spaces", body));
        } catch (err) {
          error.textContent = err.status === 409 ? t("kb.nameTaken") : err.message;
        }
      },
    },
      h("label", { for: "space-name" }, t("kb.spaceName")), name,
      h("label", { for: "space-description" }, t("kb.description")), description,
      h("label", { for: "space-department" }, t("kb.department")), department,
      h("p", { class: "muted small-print" }, t("kb.departmentExplain")),
      h("label", { class: "check" }, onboarding, " ", t("kb.onboarding")),
      h("p", { class: "muted small-print" }, t("kb.onboardingExplain")),
      error,
      h("div", { class: "dialog-actions" },
        h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
        h("button", { type: "submit", class: "primary" }, t("create"))));
  });
  if (created) {
    toast(t("kb.spaceCreated", { name: created.name }));
    location.hash = `#/kb/${created.id}`;
  }
}

// --- A space ----------------------------------------------------------------------------------

/**
 * One space as the caller stands in it, on one tab. Follows the knowledge-base notifications
 * about it (a submission for its admins, a publication for its authors), so the lists and the
 * review count stay current.
 */
class SpaceView {
  constructor(main, id, { tab, tag }) {
    this.id = id;
    this.tab = tab;
    this.tag = tag;
    this.closed = false;
    this.detail = null;
    this.articles = [];
    this.root = h("section", { class: "page kb-space-page", dataset: { space: id, tab } },
      h("p", { class: "muted center" }, t("kb.loading")));
    this.main = main;
    mount(main, this.root);
    state.views.add(this);
    this.load();
  }

  close() {
    this.closed = true;
    state.views.delete(this);
  }

  onEvent(event) {
    const n = event.type === "notification" ? event.notification : null;
    if (n && n.article && n.article.space_id === this.id && n.kind !== "article_comment") this.load();
  }

  get level() {
    return this.detail ? this.detail.space.level : "none";
  }

  get writable() {
    return !this.detail.space.archived_at && (this.level === "write" || this.level === "admin");
  }

  /** The list's query for the tab (and tag), from `before` back. */
  query(before = null) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (this.tab === "mine") params.set("status", "mine");
    else if (this.tab === "review") params.set("status", "submitted");
    else if (this.tag) params.set("tag", this.tag);
    if (before !== null) params.set("before", String(before));
    return `/v1/spaces/${this.id}/articles?${params}`;
  }

  async load() {
    try {
      const [detail, list] = await Promise.all([api("GET", `/v1/spaces/${this.id}`), api("GET", this.query())]);
      if (this.closed) return;
      this.detail = detail;
      spaceNames.set(this.id, detail.space.name);
      this.articles = list.articles;
      this.show(list.articles.length === PAGE);
    } catch (err) {
      if (!this.closed) failed(this.main, err);
    }
  }

  async more(button) {
    button.disabled = true;
    try {
      const last = this.articles[this.articles.length - 1];
      const { articles } = await api("GET", this.query(last.id));
      if (this.closed) return;
      this.articles.push(...articles);
      this.show(articles.length === PAGE);
    } catch (err) {
      button.disabled = false;
      showError(err);
    }
  }

  show(hasMore) {
    const { space, top } = this.detail;
    const admin = this.level === "admin";
    const act = (action, label, fn, primary = false) => h("button", {
      type: "button", class: primary ? "small primary" : "small", dataset: { action },
      onclick: () => Promise.resolve(fn()).catch(showError),
    }, label);
    const tabs = [
      ["published", `#/kb/${this.id}`, t("kb.tab.published")],
      ["mine", `#/kb/${this.id}/mine`, t("kb.tab.mine")],
      admin ? ["review", `#/kb/${this.id}/review`, t("kb.tab.review")] : null,
    ].filter(Boolean);
    const list = this.articles.length
      ? h("ul", { class: "kb-articles", "aria-label": t(`kb.tab.${this.tab}`) }, this.articles.map((a) => this.row(a)))
      : h("div", { class: "empty" }, t(`kb.empty.${this.tab}`));
    mount(this.root,
      header(space.name, "#/kb", levelTag(space.level),
        space.archived_at ? h("span", { class: "tag lib-archived" }, t("kb.archived")) : null),
      h("div", { class: "kb-toolbar lib-toolbar", role: "toolbar", "aria-label": t("kb.actions") },
        this.writable ? act("new-article", [icon("plus"), t("kb.newArticle")], () => this.newArticle(), true) : null,
        admin ? act("members", [icon("people"), t("kb.members")], () => this.editMembers()) : null,
        admin ? act("settings", [icon("settings"), t("kb.settings")], () => this.settings()) : null),
      space.description ? h("p", { class: "kb-description" }, space.description) : null,
      h("nav", { class: "tabs kb-tabs", role: "tablist", "aria-label": t("kb.lists") }, tabs.map(([name, href, label]) => h("a", {
        href, role: "tab", class: name === this.tab ? "active" : null, "aria-selected": String(name === this.tab), dataset: { tab: name },
      }, label, name === "review" && space.pending > 0
        ? [" ", h("span", { class: "badge kb-pending", "aria-label": t("kb.pending", { n: space.pending }) }, space.pending)] : null))),
      h("div", { class: "kb-columns" },
        h("div", { class: "kb-list" },
          this.tag && this.tab === "published" ? h("p", { class: "kb-filter" }, t("kb.taggedWith", { tag: this.tag }), " ",
            h("a", { href: `#/kb/${this.id}` }, t("kb.allArticles"))) : null,
          list,
          hasMore ? h("button", { type: "button", class: "kb-more", onclick: (e) => this.more(e.currentTarget) }, t("kb.more")) : null),
        h("aside", { class: "kb-top", "aria-labelledby": "kb-top-title" },
          h("h2", { id: "kb-top-title" }, t("kb.top")),
          top.length ? h("ol", null, top.map((a) => h("li", { dataset: { article: a.id } },
            h("a", { href: `#/articles/${a.id}` }, a.title), " ",
            h("span", { class: "muted" }, t("kb.reads", { n: a.reads })))))
            : h("p", { class: "muted" }, t("kb.noTop")))));
  }

  /** An article in a list: title, status where it is not plain published, and what it is about. */
  row(a) {
    return h("li", { class: "kb-article", dataset: { article: a.id, status: a.status } },
      h("div", { class: "kb-article-head" },
        h("a", { class: "kb-article-title", href: `#/articles/${a.id}` }, a.title),
        a.status !== "published" || this.tab !== "published" ? statusTag(a.status) : null,
        a.stale ? h("span", { class: "tag kb-stale", title: t("kb.staleExplain") }, t("kb.stale")) : null),
      a.scope ? h("div", { class: "kb-scope" }, h("span", { class: "muted" }, t("kb.scopeLabel")), a.scope) : null,
      h("div", { class: "lib-meta kb-article-meta" },
        tagLinks(this.id, a.tags).flatMap((link) => [link, " "]),
        h("span", { class: "kb-author", dataset: { user: a.author } }, userName(a.author)), " · ",
        h("time", { datetime: new Date(a.updated_at).toISOString() }, t("kb.updated", { date: formatDate(a.updated_at) })), " · ",
        h("span", { class: "kb-reads" }, t("kb.reads", { n: a.reads }))));
  }

  /** A new draft, blank or from a template; it opens in the editor. */
  async newArticle() {
    const { templates } = await api("GET", `/v1/article-templates?lang=${kbLang()}`);
    const created = await dialog(t("kb.newArticle"), (close) => {
      const title = h("input", { id: "article-new-title", maxlength: 200 });
      const from = h("select", { id: "article-template" },
        h("option", { value: "" }, t("kb.blank")),
        templates.map((tpl) => h("option", { value: tpl.id }, tpl.name)));
      const error = h("p", { class: "form-error", role: "alert" });
      return h("form", {
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = "";
          const body = { lang: kbLang() };
          if (title.value.trim()) body.title = title.value.trim();
          if (from.value) body.template = from.value;
          if (!body.title && !body.template) {
            error.textContent = t("kb.titleNeeded");
            title.focus();
            return;
          }
          try {
            close(await api("POST", `/v1/spaces/${this.id}/articles`, body));
          } catch (err) {
            error.textContent = err.message;
          }
        },
      },
        h("label", { for: "article-new-title" }, t("kb.title")), title,
        h("label", { for: "article-template" }, t("kb.startFrom")), from,
        h("p", { class: "muted small-print" }, t("kb.templateExplain")),
        error,
        h("div", { class: "dialog-actions" },
          h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
          h("button", { type: "submit", class: "primary" }, t("create"))));
    });
    if (created) location.hash = `#/articles/${created.id}/edit`;
  }

  /** The space's name, description, when articles go stale, and whether it is archived. */
  async settings() {
    const space = this.detail.space;
    const saved = await dialog(t("kb.settings"), (close) => {
      const name = h("input", { id: "space-name", required: true, maxlength: 100, value: space.name });
      const description = h("textarea", { id: "space-description", rows: 2, maxlength: 2000, value: space.description });
      const stale = h("input", { id: "space-stale", type: "number", min: 0, max: 3650, value: space.stale_days });
      const archived = h("input", { id: "space-archived", type: "checkbox", checked: Boolean(space.archived_at) });
      const error = h("p", { class: "form-error", role: "alert" });
      return h("form", {
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = "";
          try {
            close(await api("PATCH", `/v1/spaces/${this.id}`, {
              name: name.value.trim(), description: description.value.trim(),
              stale_days: Number(stale.value) || 0, archived: archived.checked,
            }));
          } catch (err) {
            error.textContent = err.status === 409 ? t("kb.nameTaken") : err.message;
          }
        },
      },
        h("label", { for: "space-name" }, t("kb.spaceName")), name,
        h("label", { for: "space-description" }, t("kb.description")), description,
        h("label", { for: "space-stale" }, t("kb.staleDays")), stale,
        h("label", { class: "check" }, archived, " ", t("kb.archive")),
        error,
        h("div", { class: "dialog-actions" },
          h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
          h("button", { type: "submit", class: "primary" }, t("kb.save"))));
    });
    if (saved) {
      toast(t("kb.settingsSaved"));
      this.load();
    }
  }

  /**
   * Whom the space names, besides the people of its department: people (as knowledge admins,
   * writers or readers) from the directory, and the caller's channels (as readers).
   */
  async editMembers() {
    const members = this.detail.members.map((m) => ({ subject: m.subject, role: m.role }));
    const key = (s) => (s.kind === "user" ? `user:${s.user_id}` : `channel:${s.channel_id}`);
    const label = (s) => (s.kind === "user" ? userName(s.user_id) : `# ${state.channels.has(s.channel_id) ? channelName(s.channel_id) : s.channel_id}`);
    const saved = await dialog(t("kb.membersOf", { name: this.detail.space.name }), (close) => {
      const rows = h("ul", { class: "grant-list kb-member-list", "aria-label": t("kb.members") });
      const roleSelect = (subject, value, attrs) => h("select", attrs,
        ROLES.filter((r) => subject === "user" || r === "reader").map((r) => h("option", { value: r, selected: r === value }, t(`kb.role.${r}`))));
      const draw = () => mount(rows, members.length ? members.map((m, i) => h("li", { class: "grant-row", dataset: { subject: key(m.subject) } },
        h("span", { class: "grant-subject" }, label(m.subject)),
        roleSelect(m.subject.kind, m.role, {
          "aria-label": t("kb.roleFor", { name: label(m.subject) }),
          onchange: (e) => { m.role = e.target.value; },
        }),
        h("button", {
          type: "button", class: "icon", title: t("kb.removeMember"), "aria-label": t("kb.removeMember"),
          onclick: () => {
            members.splice(i, 1);
            draw();
          },
        }, icon("close")))) : h("li", { class: "muted" }, t("kb.noMembers")));
      const kind = h("select", { id: "member-kind", "aria-label": t("kb.memberKind") },
        h("option", { value: "user" }, t("kb.subject.user")),
        h("option", { value: "channel" }, t("kb.subject.channel")));
      const filter = h("input", { id: "member-filter", type: "search", placeholder: t("kb.filter"), "aria-label": t("kb.filter") });
      const subject = h("select", { id: "member-subject", "aria-label": t("kb.memberWho") });
      const role = h("select", { id: "member-role", "aria-label": t("kb.memberRole") });
      const fill = () => {
        const words = filter.value.trim().toLowerCase();
        const byLabel = (a, b) => a[1].localeCompare(b[1]);
        const list = kind.value === "user"
          ? [...state.users.values()].filter((u) => !u.disabled).map((u) => [u.id, u.email ? `${u.name} <${u.email}>` : u.name])
          : [...state.channels.values()].filter((s) => s.channel.kind !== "direct").map((s) => [s.channel.id, channelName(s.channel.id)]);
        mount(subject, list.filter(([, text]) => !words || text.toLowerCase().includes(words)).sort(byLabel)
          .map(([value, text]) => h("option", { value }, text)));
        const was = role.value || "writer";
        mount(role, ROLES.filter((r) => kind.value === "user" || r === "reader")
          .map((r) => h("option", { value: r, selected: r === was }, t(`kb.role.${r}`))));
      };
      kind.addEventListener("change", fill);
      filter.addEventListener("input", fill);
      fill();
      const add = () => {
        if (!subject.value) return;
        const s = kind.value === "user" ? { kind: "user", user_id: Number(subject.value) } : { kind: "channel", channel_id: Number(subject.value) };
        const same = members.find((m) => key(m.subject) === key(s));
        if (same) same.role = role.value;
        else members.push({ subject: s, role: role.value });
        draw();
      };
      draw();
      const error = h("p", { class: "form-error", role: "alert" });
      return h("form", {
        class: "grants-form",
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = "";
          try {
            await api("PUT", `/v1/spaces/${this.id}/members`, { members });
            close(true);
          } catch (err) {
            error.textContent = err.message;
          }
        },
      },
        h("p", { class: "muted small-print" }, t("kb.membersExplain")),
        rows,
        h("fieldset", { class: "grant-add" },
          h("legend", null, t("kb.addMember")),
          kind, filter, subject, role,
          h("button", { type: "button", id: "member-add", onclick: add }, icon("plus"), t("kb.add"))),
        error,
        h("div", { class: "dialog-actions" },
          h("button", { type: "button", onclick: () => close(null) }, t("cancel")),
          h("button", { type: "submit", class: "primary" }, t("kb.save"))));
    });
    if (saved) {
      toast(t("kb.membersSaved"));
      this.load();
    }
  }
}
