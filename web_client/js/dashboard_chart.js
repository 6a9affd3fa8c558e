// A participant's engagement over the class as a small inline SVG line chart: one point per
// engagement.snapshot, score 0–100 upwards, time to the right. Nothing loaded from anywhere.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 160;
const HEIGHT = 36;
const PAD = 3;

function svg(tag, attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/**
 * `points`: [{ts, score}] oldest first. Points without a score (instructors, observers: not
 * scored) are left out; with none left the chart says so.
 *   svg.timeline[data-points="<n>"][data-last-score]
 */
export function timelineChart(points, label) {
  const scored = points
    .map((point) => ({ t: Date.parse(point.ts), score: point.score }))
    .filter((point) => typeof point.score === "number" && !Number.isNaN(point.t));
  const chart = svg("svg", {
    class: "timeline", width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
  });
  chart.dataset.points = String(scored.length);
  const title = svg("title");
  chart.append(title, svg("line", {
    class: "timeline-axis", x1: PAD, x2: WIDTH - PAD, y1: HEIGHT - PAD, y2: HEIGHT - PAD,
  }));
  if (scored.length === 0) {
    title.textContent = `${label}: no engagement score yet`;
    chart.setAttribute("aria-label", title.textContent);
    return chart;
  }
  const first = scored[0].t;
  const span = Math.max(1, scored[scored.length - 1].t - first);
  const x = (t) => (scored.length === 1 ? WIDTH / 2 : PAD + ((t - first) / span) * (WIDTH - 2 * PAD));
  const y = (score) => HEIGHT - PAD - (Math.min(100, Math.max(0, score)) / 100) * (HEIGHT - 2 * PAD);
  chart.append(svg("polyline", {
    class: "timeline-line", fill: "none",
    points: scored.map((point) => `${x(point.t).toFixed(1)},${y(point.score).toFixed(1)}`).join(" "),
  }));
  const last = scored[scored.length - 1];
  chart.append(svg("circle", { class: "timeline-last", cx: x(last.t).toFixed(1), cy: y(last.score).toFixed(1), r: 2.5 }));
  chart.dataset.lastScore = String(last.score);
  title.textContent = `${label}: engagement ${scored.map((point) => point.score).join(" → ")} (0–100)`;
  chart.setAttribute("aria-label", title.textContent);
  return chart;
}
