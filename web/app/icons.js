// The app's icons: small line drawings on a 24 × 24 grid, drawn here as SVG so that they look
// the same on every machine (a machine without a colour emoji font showed empty boxes for the
// whole meeting bar). `icon(name)` returns an <svg> that screen readers skip: the control that
// holds it carries the accessible name (aria-label or visible text).

const SVG = "http://www.w3.org/2000/svg";

// Each icon is a list of shapes: a string is a path's `d`; an object names another element.
const SHAPES = {
  mic: ["M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z", "M5 11a7 7 0 0 0 14 0", "M12 18v3", "M9 21h6"],
  "mic-off": ["M15 9.5V6a3 3 0 0 0-5.8-1.1", "M9 9v3a3 3 0 0 0 4.6 2.5", "M5 11a7 7 0 0 0 11.2 5.6", "M19 11a7 7 0 0 1-.6 2.8", "M12 18v3", "M9 21h6", "M3 3l18 18"],
  camera: ["M3 7h12v10H3z", "M15 10.5l6-3.5v10l-6-3.5"],
  "camera-off": ["M3 7h12v10H3z", "M15 10.5l6-3.5v10l-6-3.5", "M2 3l20 18"],
  screen: ["M3 4h18v12H3z", "M8 20h8", "M12 16v4", "M12 13V7", "M9 10l3-3 3 3"],
  hand: ["M8 12V6a1.5 1.5 0 0 1 3 0v5", "M11 11V4.5a1.5 1.5 0 0 1 3 0V11", "M14 11V6a1.5 1.5 0 0 1 3 0v7a7 7 0 0 1-7 7h-.5a6 6 0 0 1-4.7-2.3L3 15.2a1.5 1.5 0 0 1 2.3-1.9L8 15"],
  leave: ["M3 14c5-5 13-5 18 0l-2.5 2.5-3-1.5v-2.5a12 12 0 0 0-7 0V15l-3 1.5z"],
  phone: ["M5 3h4l2 5-2.5 1.5a11 11 0 0 0 6 6L16 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 5a2 2 0 0 1 2-2z"],
  chat: ["M4 5h16v11H9l-5 4z"],
  thread: ["M4 5h16v9h-9l-4 3v-3H4z", "M8 9h8", "M8 11.5h5"],
  people: [{ circle: [9, 8, 3] }, "M3 20a6 6 0 0 1 12 0", { circle: [17, 9, 2.5] }, "M16 14.2A5 5 0 0 1 21 19"],
  user: [{ circle: [12, 8, 4] }, "M4 21a8 8 0 0 1 16 0"],
  notes: ["M6 3h9l4 4v14H6z", "M15 3v4h4", "M9 12h7", "M9 16h7"],
  copy: ["M8 8h12v12H8z", "M16 8V4H4v12h4"],
  speaker: ["M4 9h4l5-4v14l-5-4H4z", "M16.5 8.5a5 5 0 0 1 0 7", "M19 6a8.5 8.5 0 0 1 0 12"],
  "speaker-off": ["M4 9h4l5-4v14l-5-4H4z", "M17 9l5 6", "M22 9l-5 6"],
  warning: ["M12 3l10 18H2z", "M12 10v5", "M12 18v.01"],
  check: ["M4 12.5l5 5L20 6.5"],
  close: ["M6 6l12 12", "M18 6L6 18"],
  pin: ["M9 3h6l-1 6 4 4H6l4-4z", "M12 13v8"],
  clip: ["M20 11.5l-8.5 8.5a5 5 0 0 1-7-7L13 4.5a3.3 3.3 0 0 1 4.7 4.7l-8.4 8.4a1.7 1.7 0 0 1-2.4-2.4L14.5 7.6"],
  download: ["M12 4v11", "M7 10l5 5 5-5", "M4 20h16"],
  upload: ["M12 20V9", "M7 14l5-5 5 5", "M4 4h16"],
  edit: ["M4 20h4L19 9l-4-4L4 16z", "M13.5 6.5l4 4"],
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13", "M10 11v6", "M14 11v6"],
  lock: ["M5 11h14v10H5z", "M8 11V7a4 4 0 0 1 8 0v4"],
  unlock: ["M5 11h14v10H5z", "M8 11V7a4 4 0 0 1 7.7-1.5"],
  eye: ["M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z", { circle: [12, 12, 3] }],
  building: ["M5 21V3h10v18", "M15 9h4v12", "M3 21h18", "M8 7h4", "M8 11h4", "M8 15h4"],
  link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
  archive: ["M3 4h18v4H3z", "M5 8v12h14V8", "M10 12h4"],
  history: ["M3 12a9 9 0 1 0 3-6.7", "M3 4v5h5", "M12 7v5l3 2"],
  key: [{ circle: [8, 15, 4] }, "M11 12l9-9", "M17 6l3 3", "M15 8l2 2"],
  folder: ["M3 6h6l2 2h10v11H3z"],
  book: ["M4 4h6a2 2 0 0 1 2 2v14a2 2 0 0 0-2-2H4z", "M20 4h-6a2 2 0 0 0-2 2v14a2 2 0 0 1 2-2h6z"],
  search: [{ circle: [11, 11, 6] }, "M20 20l-4.5-4.5"],
  megaphone: ["M3 10v4h3l9 5V5L6 10z", "M18 9a4 4 0 0 1 0 6", "M7 14l1.5 6h3L10 15"],
  headset: ["M4 14v-2a8 8 0 0 1 16 0v2", "M4 14h3v6H4z", "M17 14h3v6h-3z"],
  video: ["M3 7h12v10H3z", "M15 10.5l6-3.5v10l-6-3.5"],
  alarm: ["M12 3a6 6 0 0 1 6 6v5l2 3H4l2-3V9a6 6 0 0 1 6-6z", "M10 20a2 2 0 0 0 4 0", "M12 7v4", "M12 13v.01"],
  bell: ["M12 3a6 6 0 0 1 6 6v5l2 3H4l2-3V9a6 6 0 0 1 6-6z", "M10 20a2 2 0 0 0 4 0"],
  settings: [{ circle: [12, 12, 3] }, "M12 2v3", "M12 19v3", "M2 12h3", "M19 12h3", "M4.9 4.9l2.1 2.1", "M17 17l2.1 2.1", "M4.9 19.1L7 17", "M17 7l2.1-2.1"],
  smile: [{ circle: [12, 12, 9] }, "M8 14a4.5 4.5 0 0 0 8 0", "M9 9.5v.01", "M15 9.5v.01"],
  "thumbs-up": ["M7 11v9H4v-9z", "M7 11l4-8a2 2 0 0 1 2.5 2.5L12.5 9H19a2 2 0 0 1 2 2.3l-1.3 7A2 2 0 0 1 17.7 20H7"],
  "thumbs-down": ["M7 13V4H4v9z", "M7 13l4 8a2 2 0 0 0 2.5-2.5L12.5 15H19a2 2 0 0 0 2-2.3l-1.3-7A2 2 0 0 0 17.7 4H7"],
  image: ["M3 4h18v16H3z", { circle: [8.5, 9.5, 1.5] }, "M21 16l-5-5-9 9"],
  more: [{ dot: [5, 12] }, { dot: [12, 12] }, { dot: [19, 12] }],
  reply: ["M10 6L4 12l6 6", "M4 12h10a6 6 0 0 1 6 6v1"],
  plus: ["M12 5v14", "M5 12h14"],
  send: ["M3 11l18-8-8 18-2-8z", "M11 13l10-10"],
  bold: ["M7 4h6a4 4 0 0 1 0 8H7z", "M7 12h7a4 4 0 0 1 0 8H7z"],
  italic: ["M10 4h8", "M6 20h8", "M14 4l-4 16"],
  code: ["M8 7l-5 5 5 5", "M16 7l5 5-5 5"],
  list: ["M9 6h11", "M9 12h11", "M9 18h11", { dot: [4.5, 6] }, { dot: [4.5, 12] }, { dot: [4.5, 18] }],
  quote: ["M5 7h5v5c0 3-2 5-5 5", "M14 7h5v5c0 3-2 5-5 5"],
  block: [{ circle: [12, 12, 9] }, "M5.6 5.6l12.8 12.8"],
  keyboard: ["M2 6h20v12H2z", "M6 10h.01", "M10 10h.01", "M14 10h.01", "M18 10h.01", "M7 14h10"],
  menu: ["M4 6h16", "M4 12h16", "M4 18h16"],
  arrowDown: ["M12 5v14", "M6 13l6 6 6-6"],
  arrowUp: ["M12 19V5", "M6 11l6-6 6 6"],
  back: ["M15 5l-7 7 7 7"],
  inbox: ["M3 13l3-8h12l3 8v6H3z", "M3 13h5l1 3h6l1-3h5"],
  globe: [{ circle: [12, 12, 9] }, "M3 12h18", "M12 3c3 3.5 3 14.5 0 18", "M12 3c-3 3.5-3 14.5 0 18"],
  star: ["M12 3l2.8 5.8 6.2.9-4.5 4.4 1 6.3L12 17.5 6.5 20.4l1-6.3L3 9.7l6.2-.9z"],
  pause: ["M8 5v14", "M16 5v14"],
  play: ["M7 4l13 8-13 8z"],
  retry: ["M20 12a8 8 0 1 1-2.3-5.7", "M20 4v5h-5"],
};

/** An <svg> icon by name (see SHAPES), hidden from screen readers. */
export function icon(name, { size = 18, className = "icon" } = {}) {
  const shapes = SHAPES[name];
  if (!shapes) throw new Error(`no icon named ${name}`);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", String(size));
  svg.setAttribute("height", String(size));
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "1.8");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  for (const shape of shapes) svg.append(element(shape));
  return svg;
}

function element(shape) {
  if (typeof shape === "string") return svgNode("path", { d: shape });
  if (shape.circle) {
    const [cx, cy, r] = shape.circle;
    return svgNode("circle", { cx, cy, r });
  }
  const [cx, cy] = shape.dot;
  return svgNode("circle", { cx, cy, r: 1.2, fill: "currentColor", stroke: "none" });
}

function svgNode(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** Every icon's name, for the tests and the help sheet. */
export const ICONS = Object.keys(SHAPES);
