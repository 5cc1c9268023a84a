"""The report's plots, drawn with matplotlib (Agg) and embedded as inline SVG.

Every function returns an SVG fragment ready to place in the HTML page (no XML
declaration, no DOCTYPE, no metadata, no external reference), or ``None`` when there is
nothing to draw. Plots stay small: cumulative curves are thinned to a few hundred
points and text is kept as text, not paths.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never open a window; must precede any pyplot import elsewhere

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from conformance.report._format import as_float
from conformance.report._model import BenchRun
from conformance.report._stats import clean

BLUE = "#2563eb"
ORANGE = "#ea580c"
GREY = "#64748b"
GREEN = "#16a34a"
PURPLE = "#7c3aed"
PALETTE = (BLUE, ORANGE, GREEN, PURPLE, "#db2777", "#0891b2", "#ca8a04", "#475569")
#: Figure widths (inches; the page shows 96 px per inch) that fill the report's columns,
#: so text in every plot appears at the same size as the page's small print.
FULL_IN = 11.6
SPLIT_IN = 6.7
CDF_POINTS = 300

STYLE: Any = {  # matplotlib rc parameters
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 8.5,
    "axes.labelcolor": "#334155",
    "axes.edgecolor": "#cbd5e1",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e2e8f0",
    "grid.linewidth": 0.6,
    "xtick.color": "#475569",
    "ytick.color": "#475569",
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "figure.dpi": 100,
    "svg.hashsalt": "conformance",
    "text.parse_math": False,  # labels carry untrusted text: "$" is a dollar, not math
}


@contextmanager
def _figure(
    width_in: float,
    height_in: float,
    ncols: int = 1,
    nrows: int = 1,
    *,
    twin: bool = False,
) -> Iterator[tuple[Figure, Any]]:
    """A figure with fixed margins (in inches), room on the right for a twin axis if asked.

    Fixed margins instead of matplotlib's constrained layout: the same look for these
    simple grids at a fraction of the cost.
    """
    left, right, bottom, top = 0.62, (0.62 if twin else 0.18), 0.46, 0.28
    gap = 0.62 + (0.5 if twin else 0.0)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width_in, height_in))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        fig.subplots_adjust(
            left=left / width_in,
            right=1 - right / width_in,
            bottom=bottom / height_in,
            top=1 - top / height_in,
            wspace=gap / ((width_in - left - right - gap * (ncols - 1)) / ncols),
        )
        yield fig, axes


_counter = 0


def to_svg(fig: Figure) -> str:
    """The figure as an inline SVG fragment with ids unique in the page."""
    global _counter
    _counter += 1
    buf = io.StringIO()
    with (
        matplotlib.rc_context({**STYLE, "svg.hashsalt": f"conformance-{_counter}"}),
        warnings.catch_warnings(),
    ):
        # a label in a script the font lacks is drawn as boxes: not worth a warning
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, transparent=True)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    # matplotlib numbers its element ids per figure (axes_1, line2d_1, ...): prefix them
    # and every reference to them, so many plots can share one page.
    prefix = f"fig{_counter}-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)
    svg = svg.replace("<svg ", '<svg role="img" ', 1)
    return svg.strip()


def _ms_axis(ax: Axes, axis: str = "x") -> None:
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def _cdf_xy(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A cumulative distribution thinned to at most CDF_POINTS points."""
    v = np.sort(values)
    p = np.arange(1, len(v) + 1) / len(v)
    if len(v) > CDF_POINTS:
        probs = np.linspace(0, 1, CDF_POINTS)
        v = np.quantile(v, probs)
        p = probs
    return v, p


def cdf_plot(
    panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[float]]]]],
    *,
    width_in: float = SPLIT_IN,
) -> str | None:
    """Cumulative distributions, one panel per metric, one line per series.

    ``panels`` is ``[(title, [(series label, values), ...]), ...]``. Series are drawn in
    the palette's order; a series whose label starts with "baseline" is grey and dashed.
    """
    drawn = [
        (title, [(lbl, clean(vals)) for lbl, vals in series if len(clean(vals))])
        for title, series in panels
    ]
    drawn = [(t, s) for t, s in drawn if s]
    if not drawn:
        return None
    with _figure(width_in, 2.9, ncols=len(drawn)) as (fig, axes):
        for ax, (title, series) in zip(axes[0], drawn, strict=True):
            colour = iter(PALETTE)
            for lbl, vals in series:
                x, y = _cdf_xy(vals)
                if lbl.lower().startswith("baseline"):
                    ax.plot(x, y, color=GREY, linestyle=(0, (4, 2)), label=lbl)
                else:
                    ax.plot(x, y, color=next(colour), label=lbl)
            for q in (0.5, 0.99):
                ax.axhline(q, color="#94a3b8", linewidth=0.6, linestyle=":")
                ax.annotate(
                    f"p{int(q * 100)}",
                    (0.0, q),
                    xycoords=("axes fraction", "data"),
                    xytext=(3, 2),
                    textcoords="offset points",
                    fontsize=7,
                    color=GREY,
                )
            ax.set_title(title)
            ax.set_ylim(0, 1.02)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
            every = np.concatenate([v for _, v in series])
            lo, hi, mid = float(every.min()), float(every.max()), float(np.median(every))
            if lo > 0 and mid > 0 and hi / mid > 4:
                # a long tail would squash the body of the curve: use a log axis
                ax.set_xscale("log")
                ax.set_xlim(lo / 1.15, hi * 1.15)
                ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_minor_locator(NullLocator())
                ax.set_xlabel("milliseconds (log scale)")
            else:
                # from zero unless every value sits far from it (then zoom on the body)
                left = 0.0 if lo < 0.3 * hi else lo - 0.08 * (hi - lo)
                ax.set_xlim(left, hi + 0.04 * (hi - lo) if hi > lo else hi * 1.05 + 1)
                ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
                ax.set_xlabel("milliseconds")
            _ms_axis(ax)
            if len(series) > 1:
                ax.legend(loc="lower right", handlelength=1.6)
        axes[0][0].set_ylabel("share of requests")
        return to_svg(fig)


def itl_histogram(
    values: Sequence[float], tokens_per_chunk: float | None = None, *, width_in: float = SPLIT_IN
) -> str | None:
    """The distribution of inter-token (inter-chunk) latency, with p50 and p99 marked."""
    v = clean(values)
    if len(v) < 2:
        return None
    hi = float(np.quantile(v, 0.995))
    lo = float(v.min())
    shown = v[v <= hi]
    over = int((v > hi).sum())
    with _figure(width_in, 2.5) as (fig, axes):
        ax = axes[0][0]
        ax.hist(
            shown,
            bins=min(50, max(10, len(shown) // 20)),
            range=(lo, hi) if hi > lo else None,
            color="#60a5fa",
            edgecolor="white",
            linewidth=0.4,
        )
        for q, colour in ((0.5, GREEN), (0.99, ORANGE)):
            x = float(np.quantile(v, q))
            ax.axvline(x, color=colour, linewidth=1.3)
            ax.annotate(
                f"p{int(q * 100)} {x:,.1f} ms",
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -9),
                textcoords="offset points",
                fontsize=7.5,
                color=colour,
                fontweight="bold",
            )
        title = "Inter-token latency"
        if tokens_per_chunk is not None and tokens_per_chunk > 1.05:
            title += f" (≈{tokens_per_chunk:.1f} tokens per chunk: the server coalesces)"
        ax.set_title(title)
        xlabel = "milliseconds"
        if over:
            xlabel += f"  ({over} gap{'s' if over != 1 else ''} above p99.5 not drawn)"
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        ax.grid(axis="x", visible=False)
        _ms_axis(ax)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        return to_svg(fig)


def timeseries_plot(
    series: Sequence[dict[str, Any]], warmup_s: float | None, *, width_in: float = FULL_IN
) -> str | None:
    """Throughput (left) and median latency (right) over the run, warm-up shaded."""
    rows = [b for b in series if as_float(b.get("t_s")) is not None]
    if len(rows) < 2:
        return None
    t = np.array([float(b["t_s"]) for b in rows])

    def col(key: str) -> np.ndarray:
        vals = [as_float(b.get(key)) for b in rows]
        return np.array([np.nan if v is None else v for v in vals])

    reqs, fails, toks = col("requests"), col("failures"), col("output_tokens")
    ttft, e2e = col("ttft_p50_ms"), col("e2e_p50_ms")
    width = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    with _figure(width_in, 2.6, ncols=2, twin=True) as (fig, axes):
        left, right = axes[0]
        if np.isfinite(toks).any():
            left.plot(t, toks, color=BLUE, label="output tokens/s", drawstyle="steps-mid")
            left.set_ylabel("output tokens/s")
            tw = left.twinx()
            tw.grid(False)
            tw.spines["right"].set_visible(True)
            tw.bar(t, reqs, width=width * 0.8, color="#cbd5e1", label="requests/s", zorder=0)
            if np.nansum(fails) > 0:
                tw.bar(t, fails, width=width * 0.8, color="#dc2626", label="failures/s")
            tw.set_ylabel("requests/s")
            tw.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
            tw.set_ylim(0, max(1.0, float(np.nanmax(reqs))) * 1.45)
            left.set_zorder(tw.get_zorder() + 1)
            left.patch.set_visible(False)
            h1, l1 = left.get_legend_handles_labels()
            h2, l2 = tw.get_legend_handles_labels()
            left.legend(h1 + h2, l1 + l2, loc="upper right", ncols=3)
            left.set_ylim(0, max(1.0, float(np.nanmax(toks))) * 1.3)
        else:
            left.bar(t, reqs, width=width * 0.8, color="#93c5fd", label="requests/s")
            left.set_ylabel("requests/s")
            left.set_ylim(0, max(1.0, float(np.nanmax(reqs))) * 1.3)
        left.set_title("Throughput over time")
        has_latency = False
        for values, colour, name in ((ttft, BLUE, "TTFT p50"), (e2e, ORANGE, "E2E p50")):
            if np.isfinite(values).any():
                right.plot(t, values, color=colour, label=name)
                has_latency = True
        right.set_title("Median latency over time (per second)")
        right.set_ylabel("ms")
        top = np.nanmax(np.concatenate([ttft, e2e])) if has_latency else 1.0
        right.set_ylim(0, float(top) * 1.3)
        _ms_axis(right, "y")
        if has_latency:
            right.legend(loc="upper right", ncols=2)
        for ax in (left, right):
            ax.set_xlabel("seconds since start")
            if warmup_s:
                ax.axvspan(float(t.min()) - width / 2, warmup_s, color="#f1f5f9", zorder=-1, lw=0)
                ax.annotate(
                    "warm-up",
                    (warmup_s, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(-3, -10),
                    textcoords="offset points",
                    ha="right",
                    fontsize=7,
                    color=GREY,
                )
        return to_svg(fig)


def sweep_plot(runs: Sequence[BenchRun], axis: str, *, width_in: float = FULL_IN) -> str | None:
    """For a sweep: TTFT and E2E p50/p99, and throughput, against users or rate."""
    xs = np.array([float(r.load[axis]) for r in runs])
    order = np.argsort(xs)
    xs = xs[order]
    runs = [runs[i] for i in order]

    def pick(metric: str, stat: str | None = None) -> np.ndarray:
        out = []
        for r in runs:
            block = r.metrics.get(metric)
            if stat is None:
                v = as_float(block)
            else:
                v = as_float(block.get(stat)) if isinstance(block, dict) else None
            out.append(np.nan if v is None else v)
        return np.array(out)

    xlabel = "concurrent users" if axis == "users" else "offered rate (requests/s)"
    with _figure(width_in, 2.8, ncols=3, twin=True) as (fig, axes):
        for ax, metric, name, colour in (
            (axes[0][0], "ttft_ms", "TTFT", BLUE),
            (axes[0][1], "e2e_ms", "E2E latency", ORANGE),
        ):
            p50, p99 = pick(metric, "p50"), pick(metric, "p99")
            ax.plot(xs, p50, color=colour, marker="o", markersize=3.5, label="p50")
            if np.isfinite(p99).any():
                ax.fill_between(xs, p50, p99, color=colour, alpha=0.12, lw=0)
                ax.plot(
                    xs, p99, color=colour, marker="o", markersize=3.5, linestyle="--", label="p99"
                )
            ax.set_title(f"{name} vs load")
            ax.set_ylabel("ms")
            finite = np.concatenate([p50[np.isfinite(p50)], p99[np.isfinite(p99)]])
            ax.set_ylim(0, (float(finite.max()) if len(finite) else 1.0) * 1.25)
            _ms_axis(ax, "y")
            ax.legend(loc="upper left", ncols=2)
        right = axes[0][2]
        tok, rps = pick("output_tokens_per_s"), pick("requests_per_s")
        tw = right.twinx()
        tw.grid(False)
        tw.spines["right"].set_visible(True)
        bar_w = np.diff(xs).min() * 0.35 if len(xs) > 1 else 0.5
        if xs.min() > 0 and xs.max() / xs.min() >= 8:
            bar_w = xs * 0.35  # log axis: bars proportional to x keep an even look
        tw.bar(xs, rps, width=bar_w, color="#cbd5e1", label="requests/s", zorder=0)
        tw.set_ylabel("requests/s")
        tw.set_ylim(0, max(1e-9, float(np.nanmax(rps)) if np.isfinite(rps).any() else 1.0) * 1.4)
        right.plot(xs, tok, color=GREEN, marker="o", markersize=3.5, label="output tokens/s")
        right.set_ylabel("output tokens/s")
        right.set_ylim(0, max(1e-9, float(np.nanmax(tok)) if np.isfinite(tok).any() else 1.0) * 1.3)
        right.set_zorder(tw.get_zorder() + 1)
        right.patch.set_visible(False)
        h1, l1 = right.get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        right.legend(h1 + h2, l1 + l2, loc="upper left", ncols=2)
        right.set_title("Throughput vs load")
        for ax in axes[0]:
            ax.set_xlabel(xlabel)
            if xs.min() > 0 and xs.max() / xs.min() >= 8:
                ax.set_xscale("log", base=2)
            ax.set_xticks(xs)
            ax.set_xticklabels([f"{x:g}" for x in xs])
            ax.minorticks_off()
        return to_svg(fig)
