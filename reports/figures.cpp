#include "harness/store/results_schema.h"
#include "reports/figures.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

namespace usbench::reports {

namespace {

const char* const kColours[] = {"#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#566573", "#17a589", "#a93226"};
const char* colour(std::size_t i) { return kColours[i % (sizeof kColours / sizeof kColours[0])]; }

// The rows with results, in table order, and how each is named in a figure.
std::vector<const MethodRow*> rows_with_results(const ComparisonTable& t) {
  std::vector<const MethodRow*> out;
  for (const auto& r : t.rows)
    if (r.runs_done > 0 && r.by.count(r.headline) && r.by.at(r.headline).reported) out.push_back(&r);
  return out;
}
bool several_protocols(const ComparisonTable& t) {
  std::set<std::string> p;
  for (const auto& r : t.rows) p.insert(r.protocol);
  return p.size() > 1;
}
std::string row_name(const ComparisonTable& t, const MethodRow& r) {
  return several_protocols(t) ? r.label + " / " + r.protocol : r.label;
}

// A data rectangle of the document (viewBox px) and the data range it shows.
struct Plot {
  double left, top, width, height;
  double x0, x1, y0, y1;
  double X(double x) const { return left + width * (x - x0) / (x1 - x0); }
  double Y(double y) const { return top + height * (y1 - y) / (y1 - y0); }
};

// The document: `w` x `h` viewBox px shown `inches` wide.
std::string open_svg(double w, double h, double inches, const std::string& title) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{:.2f}in\" height=\"{:.2f}in\" viewBox=\"0 0 "
      "{:.0f} {:.0f}\" "
      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"9\">\n<title>{}</title>\n"
      "<rect x=\"0\" y=\"0\" width=\"{:.0f}\" height=\"{:.0f}\" fill=\"#ffffff\"/>\n",
      inches, inches * h / w, w, h, xml_escape(title), w, h);
}
const char* kClose = "</svg>\n";

std::string text(double x, double y, const std::string& s, const char* anchor = "start",
                 const std::string& extra = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\"{}>{}</text>\n", x, y, anchor, extra,
                     xml_escape(s));
}

std::string tick_text(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9) return fmt::format("{:.0f}", v);
  return fmt::format("{:g}", v);
}

// Gridlines, tick labels and the axis title, x along the bottom and y along the left of `p`.
std::string x_axis(const Plot& p, const std::vector<double>& ticks, const std::string& title) {
  std::string out;
  for (double t : ticks) {
    const double x = p.X(t);
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e3e3e3\" stroke-width=\"0.6\"/>\n",
        x, p.top, p.top + p.height);
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\" stroke-width=\"0.6\"/>\n", x,
        p.top + p.height, p.top + p.height + 3);
    out += text(x, p.top + p.height + 12, tick_text(t), "middle");
  }
  out += fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\" stroke-width=\"0.8\"/>\n", p.left,
      p.top + p.height, p.left + p.width, p.top + p.height);
  out += text(p.left + p.width / 2, p.top + p.height + 25, title, "middle");
  return out;
}
std::string y_axis(const Plot& p, const std::vector<double>& ticks, const std::string& title) {
  std::string out;
  for (double t : ticks) {
    const double y = p.Y(t);
    out += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e3e3e3\" stroke-width=\"0.6\"/>\n",
        p.left, y, p.left + p.width, y);
    out += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\" stroke-width=\"0.6\"/>\n",
        p.left - 3, y, p.left, y);
    out += text(p.left - 5, y + 3, tick_text(t), "end");
  }
  out += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\" stroke-width=\"0.8\"/>\n",
      p.left, p.top, p.top + p.height);
  out += text(12, p.top + p.height / 2, title, "middle",
              fmt::format(" transform=\"rotate(-90 12 {:.1f})\"", p.top + p.height / 2));
  return out;
}

// A legend of coloured swatches in one row starting at (x, y); returns its SVG.
std::string legend_row(double x, double y, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  for (const auto& [name, fill] : entries) {
    out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"8\" height=\"8\" fill=\"{}\"/>\n", x, y - 7, fill);
    out += text(x + 11, y, name);
    x += 11 + 5.2 * static_cast<double>(name.size()) + 12;
  }
  return out;
}

// The first number in a text such as "94.19%" or "about 84%"; NaN when there is none.
double first_number(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(s[i]))) return std::strtod(s.c_str() + i, nullptr);
  return std::nan("");
}

Figure forest(const ComparisonTable& t, const std::vector<const MethodRow*>& rows) {
  struct Rule {
    const char* key;
    const char* name;
    const char* fill;
  };
  const Rule rules[] = {{results::selection::kBestTest, "best epoch on test (as the paper)", "#c0392b"},
                        {results::selection::kLast, "last epoch", "#566573"},
                        {results::selection::kBestVal, "best epoch on validation", "#1b6ca8"}};
  double lo = 100, hi = 0;
  bool any_paper = false;
  for (const auto* r : rows) {
    for (const auto& rule : rules) {
      const auto& s = r->by.at(rule.key);
      if (!s.reported) continue;
      lo = std::min({lo, 100 * s.ci.lo, 100 * s.pooled});
      hi = std::max({hi, 100 * s.ci.hi, 100 * s.pooled});
    }
    const double paper = first_number(r->paper);
    if (!std::isnan(paper)) {
      lo = std::min(lo, paper);
      hi = std::max(hi, paper);
      any_paper = true;
    }
  }
  const auto ticks = nice_ticks(std::max(0.0, lo - 2), std::min(100.0, hi + 2));
  const double w = 340, label_w = 92, row_h = 30, top = 34;
  const double h = top + row_h * static_cast<double>(rows.size()) + 32;
  const Plot p{label_w, top, w - label_w - 12, row_h * static_cast<double>(rows.size()), ticks.front(), ticks.back(),
               0,       1};
  std::string out = open_svg(w, h, 3.5, t.experiment + ": pooled accuracy with 95% clip-bootstrap intervals");
  out += legend_row(6, 11, {{rules[0].name, rules[0].fill}, {rules[1].name, rules[1].fill}});
  std::vector<std::pair<std::string, std::string>> second = {{rules[2].name, rules[2].fill}};
  out += legend_row(6, 23, second);
  if (any_paper)
    out += fmt::format("<path d=\"M {0:.1f} {1:.1f} l 4 4 l -4 4 l -4 -4 z\" fill=\"none\" stroke=\"#000\"/>\n", 160.0,
                       15.0) +
           text(167, 23, "paper's figure");
  out += x_axis(p, ticks, "pooled test accuracy (%)");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto* r = rows[i];
    const double y0 = top + row_h * static_cast<double>(i);
    if (i > 0)
      out += fmt::format(
          "<line x1=\"4\" y1=\"{0:.1f}\" x2=\"{1:.1f}\" y2=\"{0:.1f}\" stroke=\"#bbb\" stroke-width=\"0.5\"/>\n", y0,
          p.left + p.width);
    out += text(label_w - 6, y0 + row_h / 2 + 3, row_name(t, *r), "end");
    for (int k = 0; k < 3; ++k) {
      const auto& s = r->by.at(rules[k].key);
      if (!s.reported) continue;  // a selection this row's protocol does not report
      const double y = y0 + 7 + 8 * k;
      out += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"1.2\"/>\n",
          p.X(100 * s.ci.lo), y, p.X(100 * s.ci.hi), y, rules[k].fill);
      out += fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.6\" fill=\"{}\"><title>{}: {:.2f}% [{:.2f}, "
          "{:.2f}]</title></circle>\n",
          p.X(100 * s.pooled), y, rules[k].fill, xml_escape(rules[k].name), 100 * s.pooled, 100 * s.ci.lo,
          100 * s.ci.hi);
    }
    const double paper = first_number(r->paper);
    if (!std::isnan(paper))
      out += fmt::format(
          "<path d=\"M {:.1f} {:.1f} l 4 4 l -4 4 l -4 -4 z\" fill=\"none\" stroke=\"#000\"><title>paper: "
          "{}</title></path>\n",
          p.X(paper), y0 + 7 - 4, xml_escape(r->paper));
  }
  return {
      "forest.svg",
      "Pooled test accuracy of each method under the three epoch selections, with 95% intervals from a bootstrap over "
      "clips; open diamonds: the paper's figure.",
      out + kClose};
}

Figure per_fold(const ComparisonTable& t, const std::vector<const MethodRow*>& rows) {
  // The (seed, fold) cells in order; a row without a cell leaves a gap.
  std::set<std::pair<std::int64_t, int>> cells;
  for (const auto* r : rows)
    for (const auto& c : r->by.at(r->headline).cells) cells.insert(c);
  const std::vector<std::pair<std::int64_t, int>> order(cells.begin(), cells.end());
  const bool seeds = std::set<std::int64_t>(t.seeds.begin(), t.seeds.end()).size() > 1;
  const double w = 680, h = 250;
  const Plot p{48, 30, w - 60, h - 30 - 42, 0, static_cast<double>(order.size()), 0, 100};
  std::string out = open_svg(w, h, 7.0, t.experiment + ": val-selected accuracy per fold");
  std::vector<std::pair<std::string, std::string>> legend;
  for (std::size_t i = 0; i < rows.size(); ++i) legend.emplace_back(row_name(t, *rows[i]), colour(i));
  out += legend_row(48, 14, legend);
  out += y_axis(p, {0, 20, 40, 60, 80, 100}, "test accuracy (%)");
  out += fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\" stroke-width=\"0.8\"/>\n", p.left,
      p.top + p.height, p.left + p.width, p.top + p.height);
  const double group = p.width / static_cast<double>(std::max<std::size_t>(1, order.size()));
  const double bar = group * 0.8 / static_cast<double>(std::max<std::size_t>(1, rows.size()));
  for (std::size_t g = 0; g < order.size(); ++g) {
    const double gx = p.left + group * static_cast<double>(g) + group * 0.1;
    const std::string name = seeds ? fmt::format("seed {} fold {}", order[g].first, order[g].second)
                                   : fmt::format("fold {}", order[g].second);
    out += text(gx + group * 0.4, p.top + p.height + 12, name, "middle");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& sel = rows[i]->by.at(rows[i]->headline);
      const auto it = std::find(sel.cells.begin(), sel.cells.end(), order[g]);
      if (it == sel.cells.end()) continue;
      const double v = 100 * sel.per_fold[static_cast<std::size_t>(it - sel.cells.begin())];
      const double x = gx + bar * static_cast<double>(i);
      out += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}, {}: "
          "{:.2f}%</title></rect>\n",
          x, p.Y(v), bar * 0.92, p.Y(0) - p.Y(v), colour(i), xml_escape(row_name(t, *rows[i])), name, v);
      out += text(
          x + bar * 0.46, p.Y(v) - 2, fmt::format("{:.1f}", v), "start",
          fmt::format(" font-size=\"7\" transform=\"rotate(-90 {:.1f} {:.1f})\"", x + bar * 0.46 + 2.5, p.Y(v) - 2));
    }
  }
  out +=
      text(p.left + p.width / 2, h - 8,
           seeds ? "seed and fold (the held-out fold of each run)" : "fold (the held-out fold of each run)", "middle");
  return {"per_fold.svg", "Test accuracy of every fold at the epoch chosen on validation, one bar per method.",
          out + kClose};
}

// A label as a file-name part: letters, digits, '-', '_' and '.' kept, anything else '_'.
std::string file_safe(const std::string& s) {
  std::string o = s;
  for (auto& c : o)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return o;
}

// One line per series (NaN points skipped), with a band of +- sd where given.
struct Series {
  std::string name;
  const std::vector<double>* mean;
  const std::vector<double>* sd;  // may be null
};
Figure curves(const std::string& file, const std::string& title, const std::string& caption, const std::string& y_title,
              double scale, const std::vector<Series>& series) {
  double lo = INFINITY, hi = -INFINITY;
  std::size_t n = 0;
  for (const auto& s : series)
    for (std::size_t e = 0; e < s.mean->size(); ++e) {
      const double m = (*s.mean)[e];
      if (std::isnan(m)) continue;
      const double d = s.sd && e < s.sd->size() && !std::isnan((*s.sd)[e]) ? (*s.sd)[e] : 0;
      lo = std::min(lo, scale * (m - d));
      hi = std::max(hi, scale * (m + d));
      n = std::max(n, e + 1);
    }
  if (n == 0) return {};
  if (hi - lo < 1e-9) hi = lo + 1;
  const auto yt = nice_ticks(lo, hi);
  const auto xt = nice_ticks(0, static_cast<double>(std::max<std::size_t>(1, n - 1)), 6, /*integers=*/true);
  const double w = 340, legend_lines = std::ceil(static_cast<double>(series.size()) / 3.0);
  const double h = 200 + 12 * legend_lines;
  const Plot p{48, 10, w - 60, 150, xt.front(), xt.back(), yt.front(), yt.back()};
  std::string out = open_svg(w, h, 3.5, title);
  out += y_axis(p, yt, y_title);
  out += x_axis(p, xt, "epoch");
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    std::string line, upper, lower;
    for (std::size_t e = 0; e < s.mean->size(); ++e) {
      const double m = (*s.mean)[e];
      if (std::isnan(m)) continue;
      line += fmt::format("{:.1f},{:.1f} ", p.X(static_cast<double>(e)), p.Y(scale * m));
      if (s.sd && e < s.sd->size() && !std::isnan((*s.sd)[e])) {
        upper += fmt::format("{:.1f},{:.1f} ", p.X(static_cast<double>(e)), p.Y(scale * (m + (*s.sd)[e])));
        lower = fmt::format("{:.1f},{:.1f} ", p.X(static_cast<double>(e)), p.Y(scale * (m - (*s.sd)[e]))) + lower;
      }
    }
    if (!upper.empty())
      out += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\"/>\n", upper + lower,
                         colour(i));
    if (!line.empty())
      out += fmt::format(
          "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.4\"><title>{}</title></polyline>\n",
          line, colour(i), xml_escape(s.name));
  }
  for (std::size_t i = 0; i < series.size(); i += 3) {
    std::vector<std::pair<std::string, std::string>> entries;
    for (std::size_t j = i; j < std::min(series.size(), i + 3); ++j) entries.emplace_back(series[j].name, colour(j));
    out += legend_row(48, 198 + 12 * static_cast<double>(i / 3), entries);
  }
  return {file, caption, out + kClose};
}

Figure confusion(const ComparisonTable& t, const std::vector<const MethodRow*>& rows) {
  const int k = static_cast<int>(t.classes.size());
  const double cell = 26, label_w = 72, panel_w = 170, panel_h = 40 + cell * k + 30;
  const std::size_t per_line = 2;
  const double w = 340, h = panel_h * std::ceil(static_cast<double>(rows.size()) / per_line) + 6;
  std::string out = open_svg(w, h, 3.5, t.experiment + ": val-selected confusion matrices, pooled over folds");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& c = rows[i]->by.at(rows[i]->headline).confusion;
    const double ox = panel_w * static_cast<double>(i % per_line), oy = panel_h * static_cast<double>(i / per_line);
    const double gx = ox + label_w, gy = oy + 30;
    out += text(ox + label_w + cell * k / 2, oy + 12, row_name(t, *rows[i]), "middle", " font-weight=\"bold\"");
    out += text(ox + label_w + cell * k / 2, oy + 24, "predicted", "middle");
    for (int a = 0; a < k; ++a) {
      out += text(gx - 4, gy + cell * a + cell / 2 + 3, t.classes[static_cast<std::size_t>(a)], "end");
      out += text(gx + cell * a + cell / 2, gy + cell * k + 10, t.classes[static_cast<std::size_t>(a)].substr(0, 5),
                  "middle", " font-size=\"7\"");
      long row_total = 0;
      for (int b = 0; b < k; ++b) row_total += c.at(a, b);
      for (int b = 0; b < k; ++b) {
        const long n = c.at(a, b);
        const double share = row_total > 0 ? static_cast<double>(n) / static_cast<double>(row_total) : 0;
        // White to #1b6ca8 by the share of the true class.
        const int rr = static_cast<int>(std::lround(255 + share * (0x1b - 255))),
                  gg = static_cast<int>(std::lround(255 + share * (0x6c - 255))),
                  bb = static_cast<int>(std::lround(255 + share * (0xa8 - 255)));
        out += fmt::format(
            "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#{:02x}{:02x}{:02x}\" "
            "stroke=\"#999\" "
            "stroke-width=\"0.4\"><title>true {}, predicted {}: {} ({:.1f}% of {})</title></rect>\n",
            gx + cell * b, gy + cell * a, cell, cell, rr, gg, bb, xml_escape(t.classes[static_cast<std::size_t>(a)]),
            xml_escape(t.classes[static_cast<std::size_t>(b)]), n, 100 * share, row_total);
        out += text(gx + cell * b + cell / 2, gy + cell * a + cell / 2 + 3, std::to_string(n), "middle",
                    share > 0.5 ? " fill=\"#ffffff\"" : "");
      }
    }
    out += text(ox + 7, gy + cell * k / 2, "true", "middle",
                fmt::format(" transform=\"rotate(-90 {:.1f} {:.1f})\"", ox + 7, gy + cell * k / 2));
  }
  return {"confusion.svg",
          "Confusion matrices at the epoch chosen on validation, pooled over folds: frame counts, shaded by the share "
          "of the true class.",
          out + kClose};
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s)
    o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '"' ? "&quot;" : std::string(1, c);
  return o;
}

std::vector<double> nice_ticks(double lo, double hi, int target, bool integers) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  if (integers) step = std::max(step, 1.0);
  std::vector<double> out;
  const double first = std::floor(lo / step + 1e-9) * step;
  for (double v = first; v <= hi + step * (1 - 1e-9); v += step) {
    out.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
    if (v >= hi - step * 1e-9) break;
  }
  if (out.size() < 2) out.push_back(out.back() + step);
  return out;
}

std::vector<Figure> make_figures(const ComparisonTable& t) {
  std::vector<Figure> out;
  const auto rows = rows_with_results(t);
  if (rows.empty()) return out;
  out.push_back(forest(t, rows));
  out.push_back(per_fold(t, rows));
  std::vector<std::string> protocols;
  for (const auto* r : rows)
    if (std::find(protocols.begin(), protocols.end(), r->protocol) == protocols.end()) protocols.push_back(r->protocol);
  // A downstream curve of every protocol: mean over folds, band +- sd over folds.
  auto downstream = [&](const std::string& curve, const std::string& prefix, const std::string& y_title, double scale) {
    for (const auto& p : protocols) {
      std::vector<Series> series;
      for (const auto* r : rows)
        if (r->protocol == p && r->curves.count(curve))
          series.push_back({r->label, &r->curves.at(curve),
                            r->curves.count(curve + " sd") ? &r->curves.at(curve + " sd") : nullptr});
      auto f =
          curves(prefix + file_safe(p) + ".svg", t.experiment + ", " + p + ": " + curve + " by epoch",
                 p + ": " + curve + " by epoch, mean over folds; the band is +- one standard deviation over folds.",
                 y_title, scale, series);
      if (!f.svg.empty()) out.push_back(std::move(f));
    }
  };
  // A pretraining curve: one run per method.
  auto pretraining = [&](const std::string& curve, const std::string& file, const std::string& caption,
                         const std::string& y_title) {
    std::vector<Series> series;
    std::set<std::string> seen;
    for (const auto* r : rows)
      if (r->curves.count(curve) && seen.insert(r->label).second)
        series.push_back({r->label, &r->curves.at(curve), nullptr});
    auto f = curves(file, t.experiment + ": " + curve + " by epoch", caption, y_title, 1, series);
    if (!f.svg.empty()) out.push_back(std::move(f));
  };
  downstream("test accuracy", "curves_", "test accuracy (%)", 100);
  pretraining(
      "pretrain held-out loss", "pretraining.svg",
      "Held-out contrastive loss of each pretraining by epoch (clips never trained on; each method's own loss, so "
      "levels differ between methods).",
      "held-out contrastive loss");
  if (!t.classes.empty()) out.push_back(confusion(t, rows));
  downstream("val accuracy", "val_accuracy_", "validation accuracy (%)", 100);
  downstream("train loss", "train_loss_", "training loss", 1);
  pretraining("pretrain kNN accuracy", "pretraining_knn.svg",
              "kNN accuracy (k = 20) of each pretraining's features on held-out clips, by epoch.",
              "held-out kNN accuracy");
  pretraining("pretrain loss", "pretraining_loss.svg", "Training loss of each pretraining by epoch.", "training loss");
  return out;
}

}  // namespace usbench::reports
