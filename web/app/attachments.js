// Files and links as a message shows them: an image as a preview in a box of fixed height
// (opened large in a dialog), any other file as a card that downloads it, with an icon for its
// kind (`fileIcon`, also used by the library, articles and search), and a card for the page a
// message's first link leads to, as the server read it.

import { t } from "./i18n.js";
import { h, mount, api, formatSize, dialog, mediaUrl, downloadLink as fileLink } from "./ui.js";
import { icon } from "./icons.js";

export const isImage = (mime) => typeof mime === "string" && mime.startsWith("image/");

/** A message's files: images as a preview (opened large on a tap), others as a card. */
export function attachmentList(m) {
  const list = m.attachments || [];
  if (!list.length) return null;
  return h("div", { class: "attachments" }, list.map((a) => (isImage(a.mime) ? imageAttachment(a) : fileCard(a))));
}

/** Link → a promise of its preview (or null), asked of the server once per page load. */
const previews = new Map();
/** The first web link of a message (outside code), for its preview card. */
const LINK = /https?:\/\/[^\s<>"'`，。；：！？、（）【】“”‘’]+/;

/**
 * A card under the message with the title, description and site of the page its first link
 * leads to, as the server read it; nothing when the page gives none.
 */
export function linkPreview(m) {
  if (!m.body || m.action) return null;
  const text = m.body.replace(/```[\s\S]*?```/g, "").replace(/`[^`]*`/g, "");
  const found = LINK.exec(text);
  if (!found) return null;
  const url = found[0].replace(/[).,;:!?]+$/, "");
  if (!previews.has(url)) {
    previews.set(url, api("GET", `/v1/link-preview?url=${encodeURIComponent(url)}`).catch(() => null));
  }
  const slot = h("div", { class: "link-preview-slot" });
  previews.get(url).then((p) => {
    if (!p || !p.title) return;
    mount(slot, h("a", {
      class: "link-preview", href: p.url, target: "_blank", rel: "noopener noreferrer",
      dataset: { preview: url },
    },
    p.site_name ? h("span", { class: "link-preview-site" }, p.site_name) : null,
    h("strong", { class: "link-preview-title" }, p.title),
    p.description ? h("span", { class: "link-preview-text" }, p.description) : null));
  });
  return slot;
}

const contentPath = (a, download) => `/v1/files/${a.id}/content${download ? "?download=true" : ""}`;

/** A link to a file that downloads it (`downloadLink` in ui.js). */
const downloadLink = (a, attrs, ...children) => fileLink(contentPath(a, true), a.name, attrs, ...children);

/**
 * An image's preview (its thumbnail when the server made one) in a box of fixed height, so
 * nothing below it moves when it loads. One the browser cannot show becomes a file card.
 */
function imageAttachment(a) {
  const img = h("img", { alt: a.name, decoding: "async", dataset: { file: a.id } });
  mediaUrl(a.thumbnail ? `/v1/files/${a.id}/thumbnail` : contentPath(a, false)).then((url) => { img.src = url; }, () => {});
  img.addEventListener("error", () => figure.replaceWith(fileCard(a)), { once: true });
  const figure = h("figure", { class: "attachment attachment-image", dataset: { file: a.id } },
    h("button", {
      type: "button", class: "image-open", title: t("attach.open", { name: a.name }),
      "aria-label": t("attach.open", { name: a.name }),
      onclick: () => openImage(a),
    }, img),
    h("figcaption", null,
      h("span", { class: "attachment-name", title: a.name }, a.name),
      h("span", { class: "muted" }, formatSize(a.size)),
      downloadLink(a, { class: "attachment-download", title: t("attach.download", { name: a.name }),
        "aria-label": t("attach.download", { name: a.name }) }, icon("download", { size: 16 }))));
  return figure;
}

/** The image at full size in a dialog, with its download. */
async function openImage(a) {
  const img = h("img", { class: "lightbox-image", alt: a.name });
  img.src = await mediaUrl(contentPath(a, false)).catch(() => "");
  await dialog(a.name, (close) => h("div", { class: "lightbox" }, img,
    h("div", { class: "dialog-actions" },
      downloadLink(a, { class: "button" }, icon("download", { size: 16 }), t("attach.save")),
      h("button", { type: "button", onclick: () => close(null) }, t("close")))));
}

/** Any other file: an icon for its kind, its name and size; the whole card downloads it. */
function fileCard(a) {
  return downloadLink(a, {
    class: "attachment attachment-file", dataset: { file: a.id },
    title: t("attach.download", { name: a.name }), "aria-label": t("attach.download", { name: a.name }),
  },
  fileIcon(a.name, a.mime),
  h("span", { class: "file-text" },
    h("span", { class: "attachment-name" }, a.name),
    h("span", { class: "muted" }, formatSize(a.size))),
  h("span", { class: "file-get", "aria-hidden": "true" }, icon("download")));
}

/** A page with a folded corner (drawn by app.css), its extension on it, coloured by kind. */
export function fileIcon(name, mime) {
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 && name.length - dot <= 6 ? name.slice(dot + 1).toUpperCase() : "";
  const kind = /pdf/.test(mime || "") || ext === "PDF" ? "pdf"
    : /^(DOCX?|ODT|RTF|PAGES)$/.test(ext) ? "doc"
      : /^(XLSX?|CSV|ODS|NUMBERS)$/.test(ext) ? "sheet"
        : /^(PPTX?|ODP|KEY)$/.test(ext) ? "slides"
          : /^(ZIP|RAR|7Z|GZ|TGZ|TAR|XZ|BZ2)$/.test(ext) ? "archive"
            : /^(audio|video)\//.test(mime || "") ? "media"
              : isImage(mime) ? "image" : "other";
  return h("span", { class: "file-icon", dataset: { ext: ext.slice(0, 4), kind }, "aria-hidden": "true" });
}
