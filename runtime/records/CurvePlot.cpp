//===- CurvePlot.cpp - Learning curves drawn as SVG ------------------------------------------===//
//
// Hand-written SVG: one panel per y-quantity, side by side. Each panel has a frame, "nice" ticks
// (1, 2 or 5 times a power of ten) with grid lines, axis titles, a legend in the corner where it
// hides the fewest points, and one polyline per series (broken at NaN) with a dot per point when
// points are few.
//
//===----------------------------------------------------------------------------------------===//
#include "support/AtomicFile.h"
#include "runtime/records/LearningCurves.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace nnc {

namespace {

constexpr double kPanelW = 440, kPanelH = 300;                  // plot area of one panel
constexpr double kLeft = 70, kRight = 30, kTop = 50, kBottom = 60; // margins around a plot area
constexpr const char *kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

/// Tick positions covering [lo, hi] with about `target` steps of a 1-2-5 size.
struct Ticks {
  double first, step;
  int count;
  int decimals;
  double lo() const { return first; }
  double hi() const { return first + step * (count - 1); }
};

Ticks niceTicks(double lo, double hi, int target, bool integral) {
  if (!(hi > lo)) { // one value, or none: widen around it
    double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double frac = raw / mag;
  double step = (frac <= 1 ? 1 : frac <= 2 ? 2 : frac <= 5 ? 5 : 10) * mag;
  if (integral)
    step = std::max(1.0, std::round(step));
  double first = std::floor(lo / step + 1e-9) * step;
  double last = std::ceil(hi / step - 1e-9) * step;
  int count = static_cast<int>(std::llround((last - first) / step)) + 1;
  int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return {first, step, count, decimals};
}

std::string label(double v, int decimals) {
  if (std::abs(v) < 1e-12)
    v = 0; // no "-0.0"
  return fmt::format("{:.{}f}", v, decimals);
}

} // namespace

std::string renderCurvesSvg(std::span<const CurveSeries> series, std::string_view title) {
  std::vector<std::string> panels;
  for (const CurveSeries &s : series)
    if (std::find(panels.begin(), panels.end(), s.panel) == panels.end())
      panels.push_back(s.panel);
  const double cellW = kLeft + kPanelW + kRight, cellH = kTop + kPanelH + kBottom;
  const double width = cellW * static_cast<double>(std::max<size_t>(panels.size(), 1));
  const double height = cellH + 30;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"13\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"26\" text-anchor=\"middle\" font-size=\"17\">{3}</text>\n",
      width, height, width / 2, escape(title));

  for (size_t p = 0; p < panels.size(); ++p) {
    // 1. Data ranges of this panel's series.
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    std::vector<const CurveSeries *> members;
    for (const CurveSeries &s : series) {
      if (s.panel != panels[p])
        continue;
      members.push_back(&s);
      for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
          xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
          ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
        }
    }
    if (!std::isfinite(xlo))
      xlo = xhi = ylo = yhi = 0;
    Ticks xt = niceTicks(xlo, xhi, 8, true), yt = niceTicks(ylo, yhi, 5, false);
    const double ox = cellW * static_cast<double>(p) + kLeft, oy = 30 + kTop;
    auto X = [&](double x) { return ox + (x - xt.lo()) / (xt.hi() - xt.lo()) * kPanelW; };
    auto Y = [&](double y) { return oy + kPanelH - (y - yt.lo()) / (yt.hi() - yt.lo()) * kPanelH; };

    // 2. Grid, ticks and tick labels.
    svg += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
    for (int i = 0; i < yt.count; ++i)
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n", ox,
                         Y(yt.first + i * yt.step), ox + kPanelW, Y(yt.first + i * yt.step));
    for (int i = 0; i < xt.count; ++i)
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n",
                         X(xt.first + i * xt.step), oy, X(xt.first + i * xt.step), oy + kPanelH);
    svg += "</g>\n<g stroke=\"black\" stroke-width=\"1\">\n";
    for (int i = 0; i < yt.count; ++i)
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n", ox - 5,
                         Y(yt.first + i * yt.step), ox, Y(yt.first + i * yt.step));
    for (int i = 0; i < xt.count; ++i)
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n",
                         X(xt.first + i * xt.step), oy + kPanelH, X(xt.first + i * xt.step),
                         oy + kPanelH + 5);
    svg += "</g>\n";
    for (int i = 0; i < yt.count; ++i)
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", ox - 8,
                         Y(yt.first + i * yt.step) + 4, label(yt.first + i * yt.step, yt.decimals));
    for (int i = 0; i < xt.count; ++i)
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                         X(xt.first + i * xt.step), oy + kPanelH + 20,
                         label(xt.first + i * xt.step, 0));

    // 3. Frame and axis titles.
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                       "stroke=\"black\"/>\n", ox, oy, kPanelW, kPanelH);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">epoch</text>\n",
                       ox + kPanelW / 2, oy + kPanelH + 42);
    svg += fmt::format("<text transform=\"translate({:.1f},{:.1f}) rotate(-90)\" "
                       "text-anchor=\"middle\">{}</text>\n", ox - 52, oy + kPanelH / 2,
                       escape(panels[p]));

    // 4. The series: polylines broken at NaN, dots when there are few points.
    for (size_t k = 0; k < members.size(); ++k) {
      const CurveSeries &s = *members[k];
      const char *color = kColors[k % std::size(kColors)];
      size_t n = std::min(s.x.size(), s.y.size());
      std::string points;
      auto flush = [&] {
        if (!points.empty())
          svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
                             "stroke-linejoin=\"round\" points=\"{}\"/>\n", color, points);
        points.clear();
      };
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          flush();
          continue;
        }
        points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", X(s.x[i]), Y(s.y[i]));
        if (n <= 40)
          svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n",
                             X(s.x[i]), Y(s.y[i]), color);
      }
      flush();
    }

    // 5. Legend inside the frame, on a white box.
    double lw = 0;
    for (const CurveSeries *s : members)
      lw = std::max(lw, 7.5 * static_cast<double>(s->label.size()));
    double boxW = lw + 44, boxH = 20.0 * static_cast<double>(members.size()) + 8;
    // Of the four corners, take the one whose box covers the fewest data points.
    double bx = 0, by = 0;
    size_t fewest = SIZE_MAX;
    for (auto [cx, cy] : {std::pair{1, 0}, std::pair{1, 1}, std::pair{0, 0}, std::pair{0, 1}}) {
      double x0 = cx ? ox + kPanelW - boxW - 8 : ox + 8, y0 = cy ? oy + kPanelH - boxH - 8 : oy + 8;
      size_t covered = 0;
      for (const CurveSeries *s : members)
        for (size_t i = 0; i < std::min(s->x.size(), s->y.size()); ++i) {
          double px = X(s->x[i]), py = Y(s->y[i]);
          covered += px >= x0 - 4 && px <= x0 + boxW + 4 && py >= y0 - 4 && py <= y0 + boxH + 4;
        }
      if (covered < fewest)
        fewest = covered, bx = x0, by = y0;
    }
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                       "fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n", bx, by, boxW, boxH);
    for (size_t k = 0; k < members.size(); ++k) {
      double ly = by + 16 + 20.0 * static_cast<double>(k);
      svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
                         "stroke-width=\"2\"/>\n", bx + 8, ly - 4, bx + 30, ly - 4,
                         kColors[k % std::size(kColors)]);
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", bx + 36, ly,
                         escape(members[k]->label));
    }
  }
  svg += "</svg>\n";
  return svg;
}

Result<void> writeCurvesSvg(const std::string &path, std::span<const CurveSeries> series,
                            std::string_view title) {
  return writeFileAtomically(path, renderCurvesSvg(series, title));
}

} // namespace nnc
