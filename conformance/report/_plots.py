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

import itertools

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis, YAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    Formatter,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullLocator,
)

from conformance.report._bench_runs import BenchRun
from conformance.report._format import as_float, fmt_ms
from conformance.report._run_health import run_health
from conformance.report._stats import clean

BLUE = "#2563eb"
ORANGE = "#ea580c"
GREY = "#64748b"
GREEN = "#16a34a"
RED = "#dc2626"
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
    # never an offset ("+1e-9") or a power of ten beside an axis: every tick says its value
    "axes.formatter.useoffset": False,
    "axes.formatter.limits": (-30, 30),
}


class PlainFormatter(Formatter):
    """Tick labels as plain numbers, with just enough decimals to tell every tick apart.

    ``10, 10.5, 11`` rather than ``10, 10, 11``; thousands are grouped (``1,200``);
    ``percent`` shows fractions as percentages. Never an offset or scientific notation.
    """

    def __init__(self, *, percent: bool = False) -> None:
        self.percent = percent
        self._digits = 0

    def _text(self, value: float, digits: int) -> str:
        if self.percent:
            return f"{value * 100:.{digits}f}%"
        if abs(value) < 0.5 * 10.0 ** (-digits):
            value = 0.0  # "-0" is zero
        return f"{value:,.{digits}f}"

    def format_ticks(self, values: Any) -> list[str]:
        """The labels of a whole axis, sharing one number of decimals."""
        vals = [float(v) for v in values]
        for digits in range(0, 13):
            labels = [self._text(v, digits) for v in vals]
            if len(set(labels)) == len(labels):
                break
        self._digits = digits
        return labels

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._text(float(x), self._digits)


def sample_summary(values: Sequence[float]) -> dict[str, float] | None:
    """Mean, p50, p90 and p99 of per-request values (ms, to the microsecond), or None."""
    v = clean(values)
    if not len(v):
        return None
    out = {"mean": round(float(v.mean()), 3)}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        out[name] = round(float(np.quantile(v, q)), 3)
    return out


@contextmanager
def _figure(
    width_in: float,
    height_in: float,
    ncols: int = 1,
    nrows: int = 1,
    *,
    twin: bool = False,
    note: bool = False,
) -> Iterator[tuple[Figure, Any]]:
    """A figure with fixed margins (in inches), room on the right for a twin axis if asked.

    Fixed margins instead of matplotlib's constrained layout: the same look for these
    simple grids at a fraction of the cost.
    """
    left, right, bottom, top = 0.62, (0.62 if twin else 0.18), (0.72 if note else 0.46), 0.28
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
        tidy(fig)
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


def tidy(fig: Figure) -> None:
    """Lay out what matplotlib leaves to chance: no clipped title, no colliding tick labels.

    A title wider than its room (up to the next panel, or the figure's edge) is set
    smaller, then wrapped; tick labels that would overlap are thinned while every tick
    mark stays.
    """
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    if _make_room_for_y_axes(fig, renderer):
        canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    fig_right = fig.bbox.x1 - 2
    for ax in axes:
        title = ax.title
        if not title.get_text():
            continue
        x0 = ax.get_window_extent(renderer).x0
        room = min(
            [
                o.get_window_extent(renderer).x0 - 8
                for o in axes
                if o.get_window_extent(renderer).x0 > x0 + 1
            ]
            + [fig_right]
        )
        size = float(title.get_fontsize())
        while title.get_window_extent(renderer).x1 > room and size > 7.0:
            size -= 0.5
            title.set_fontsize(size)
        if title.get_window_extent(renderer).x1 > room:
            words, lines, line = title.get_text().split(), [], ""
            width = title.get_window_extent(renderer).width
            per_char = width / max(1, len(title.get_text()))
            limit = max(8, int((room - title.get_window_extent(renderer).x0) / per_char))
            for w in words:
                if line and len(line) + 1 + len(w) > limit:
                    lines.append(line)
                    line = w
                else:
                    line = f"{line} {w}".strip()
            lines.append(line)
            title.set_text("\n".join(lines[:2]))
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            _thin_labels(axis, renderer)


def _make_room_for_y_axes(fig: Figure, renderer: Any) -> bool:
    """Widen the margins and the gaps between panels where y-axis labels need it.

    The margins are fixed (see :func:`_figure`); wide tick labels ("16,000") push an axis
    label past the figure's edge, and a twin axis's label on the right of one panel
    into the next panel's. Returns whether the layout changed (then draw again).
    """
    width = fig.bbox.width
    pad = 6.0
    over_left: dict[int, float] = {}
    over_right: dict[int, float] = {}
    ncols = 0
    for ax in fig.axes:
        spec = ax.get_subplotspec() if ax.get_visible() else None
        box = ax.yaxis.get_tightbbox(renderer) if spec is not None else None
        if spec is None or box is None:
            continue
        ncols = max(ncols, spec.get_geometry()[1])
        frame = ax.get_window_extent(renderer)
        first, last = spec.colspan.start, spec.colspan.stop - 1
        over_left[first] = max(over_left.get(first, 0.0), frame.x0 - box.x0)
        over_right[last] = max(over_right.get(last, 0.0), box.x1 - frame.x1)
    if not ncols:
        return False
    sp = fig.subplotpars
    left_px, right_px = sp.left * width, (1.0 - sp.right) * width
    panel_px = (sp.right - sp.left) * width / (ncols + sp.wspace * (ncols - 1))
    gap_px = sp.wspace * panel_px
    need_left = max(left_px, over_left.get(0, 0.0) + pad)
    need_right = max(right_px, over_right.get(ncols - 1, 0.0) + pad)
    need_gap = max(
        [gap_px]
        + [over_right.get(i, 0.0) + over_left.get(i + 1, 0.0) + 2 * pad for i in range(ncols - 1)]
    )
    if need_left <= left_px + 0.5 and need_right <= right_px + 0.5 and need_gap <= gap_px + 0.5:
        return False
    panel = (width - need_left - need_right - need_gap * (ncols - 1)) / ncols
    if panel < width * 0.15 / ncols:
        return False  # no room to give: leave it as it was rather than crush the panels
    fig.subplots_adjust(
        left=need_left / width,
        right=1.0 - need_right / width,
        wspace=need_gap / panel if ncols > 1 else sp.wspace,
    )
    return True


def _thin_labels(axis: Axis, renderer: Any) -> None:
    """Blank the tick labels that would overlap their neighbour (the tick marks stay)."""
    locs = [float(v) for v in axis.get_majorticklocs()]
    ticks = axis.get_major_ticks(len(locs))
    lo, hi = sorted(axis.get_view_interval())
    slack = (hi - lo) * 1e-9
    shown = [
        i
        for i, (loc, t) in enumerate(zip(locs, ticks, strict=False))
        if lo - slack <= loc <= hi + slack and t.label1.get_visible() and t.label1.get_text()
    ]
    vertical = isinstance(axis, YAxis)

    def clash(idx: list[int]) -> bool:
        spans = []
        for i in idx:
            box = ticks[i].label1.get_window_extent(renderer)
            spans.append((box.y0, box.y1) if vertical else (box.x0, box.x1))
        spans.sort()
        return any(a[1] + 3 > b[0] for a, b in itertools.pairwise(spans))

    if len(shown) < 2 or not clash(shown):
        return
    shown.sort(key=lambda i: locs[i])
    # from the lowest tick up, keep each label that clears the last one kept
    keep = shown[:1]
    for i in shown[1:]:
        if not clash([keep[-1], i]):
            keep.append(i)
    # only the ticks in view: fixing one outside it would widen the axis
    inview = [i for i, loc in enumerate(locs) if lo - slack <= loc <= hi + slack]
    axis.set_ticks(
        [locs[i] for i in inview],
        labels=[ticks[i].label1.get_text() if i in keep else "" for i in inview],
    )


def _ms_axis(ax: Axes, axis: str = "x") -> None:
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(PlainFormatter())


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
    values: Sequence[float],
    tokens_per_chunk: float | None = None,
    *,
    marks: tuple[float, float] | None = None,
    per_request: bool = False,
    width_in: float = SPLIT_IN,
) -> str | None:
    """The distribution of inter-token (inter-chunk) gaps, with p50 and p99 marked.

    ``marks`` are the p50 and p99 to mark (the latency table's, so the two agree); by
    default they are computed from ``values``. ``per_request`` says the values are each
    request's mean gap rather than every gap, and the title says so.
    """
    v = clean(values)
    if len(v) < 2:
        return None
    p50, p99 = (
        marks
        if marks is not None
        else (
            float(np.quantile(v, 0.5)),
            float(np.quantile(v, 0.99)),
        )
    )
    # a long tail would squash the body: from 200 values on, the last half percent is cut
    hi = max(float(np.quantile(v, 0.995)) if len(v) >= 200 else float(v.max()), p99)
    lo = min(float(v.min()), p50)
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
        if hi > lo:
            pad = (hi - lo) * 0.03
            ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # room for the marker labels
        x_lo, x_hi = ax.get_xlim()
        for name, x, colour, drop in (("p50", p50, GREEN, -9), ("p99", p99, ORANGE, -20)):
            ax.axvline(x, color=colour, linewidth=1.3)
            # one line apart, so the two labels never overlap; on the side with room
            left_of_line = (x - x_lo) / ((x_hi - x_lo) or 1.0) > 0.7
            ax.annotate(
                f"{name} {fmt_ms(x)}",  # written as the table writes it
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-3 if left_of_line else 3, drop),
                textcoords="offset points",
                ha="right" if left_of_line else "left",
                fontsize=7.5,
                color=colour,
                fontweight="bold",
            )
        title = "Mean inter-token gap per request" if per_request else "Inter-token latency"
        if tokens_per_chunk is not None and tokens_per_chunk > 1.05:
            title += f" (≈{tokens_per_chunk:.1f} tokens per chunk: the server coalesces)"
        ax.set_title(title)
        xlabel = "milliseconds"
        if over:
            what = "value" if per_request else "gap"
            xlabel += f"  ({over} {what}{'s' if over != 1 else ''} above p99.5 not drawn)"
        ax.set_xlabel(xlabel)
        ax.set_ylabel("requests" if per_request else "gaps")
        ax.grid(axis="x", visible=False)
        _ms_axis(ax)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        ax.yaxis.set_major_formatter(PlainFormatter())
        return to_svg(fig)


def timeline(series: Sequence[dict[str, Any]]) -> dict[str, np.ndarray] | None:
    """The time series on a regular grid from the run's start: seconds without a row are zero.

    The harness writes a row only for seconds in which something completed, so a quiet
    warm-up would otherwise vanish from the plot. Returns ``t``, ``ok`` (successful
    completions), ``failed``, ``tokens``, ``ttft`` and ``e2e`` (NaN where unknown).
    """
    rows = [b for b in series if as_float(b.get("t_s")) is not None]
    if len(rows) < 2:
        return None
    t_raw = np.array([float(b["t_s"]) for b in rows])
    steps = np.diff(np.unique(t_raw))
    width = float(steps.min()) if len(steps) else 1.0
    start = min(0.0, float(t_raw.min()))
    n = round((float(t_raw.max()) - start) / width) + 1
    if width <= 0 or n > 100_000:
        return None
    t = start + width * np.arange(n)
    out = {k: np.zeros(n) for k in ("requests", "failures", "output_tokens")}
    out.update({k: np.full(n, np.nan) for k in ("ttft_p50_ms", "e2e_p50_ms")})
    for b, tb in zip(rows, t_raw, strict=True):
        i = round((tb - start) / width)
        for key, arr in out.items():
            v = as_float(b.get(key))
            if v is not None:
                arr[i] = v
    failed = np.clip(out["failures"], 0, None)
    return {
        "t": t,
        "width": np.array([width]),
        "ok": np.clip(out["requests"] - failed, 0, None),
        "failed": failed,
        "tokens": out["output_tokens"],
        "ttft": out["ttft_p50_ms"],
        "e2e": out["e2e_p50_ms"],
    }


def timeseries_plot(
    series: Sequence[dict[str, Any]], warmup_s: float | None, *, width_in: float = FULL_IN
) -> str | None:
    """Throughput (left) and median latency (right) over the run, warm-up shaded.

    Bars are successful requests per second, failed ones stacked on top in red; the
    line is output tokens per second (successful requests only).
    """
    line = timeline(series)
    if line is None:
        return None
    t, ok, failed, toks = line["t"], line["ok"], line["failed"], line["tokens"]
    ttft, e2e = line["ttft"], line["e2e"]
    width = float(line["width"][0])
    x_lo, x_hi = float(t[0]) - width / 2, float(t[-1]) + width / 2
    with _figure(width_in, 2.6, ncols=2, twin=True) as (fig, axes):
        left, right = axes[0]
        tw = left.twinx()
        tw.grid(False)
        tw.spines["right"].set_visible(True)
        tw.bar(t, ok, width=width * 0.8, color="#cbd5e1", label="successful requests/s", zorder=0)
        if failed.sum() > 0:
            tw.bar(t, failed, width=width * 0.8, bottom=ok, color=RED, label="failed requests/s")
        tw.set_ylabel("requests/s")
        tw.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        tw.yaxis.set_major_formatter(PlainFormatter())
        tw.set_ylim(0, max(1.0, float((ok + failed).max())) * 1.6)
        if np.nansum(toks) > 0:
            left.plot(t, toks, color=BLUE, label="output tokens/s", drawstyle="steps-mid")
            left.set_ylabel("output tokens/s")
            left.set_ylim(0, max(1.0, float(np.nanmax(toks))) * 1.45)
            left.yaxis.set_major_locator(MaxNLocator(nbins=5))
            left.yaxis.set_major_formatter(PlainFormatter())
        else:
            left.yaxis.set_major_locator(NullLocator())  # no token came back: no scale to read
        left.set_zorder(tw.get_zorder() + 1)
        left.patch.set_visible(False)
        left.grid(axis="x", visible=False)  # it would stripe the bars below
        h1, l1 = left.get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        left.legend(h1 + h2, l1 + l2, loc="upper right", ncols=3)
        left.set_title("Throughput over time")
        has_latency = False
        for values, colour, name in ((ttft, BLUE, "TTFT p50"), (e2e, ORANGE, "E2E p50")):
            if np.isfinite(values).any():
                right.plot(t, values, color=colour, label=name, marker="." if len(t) < 30 else "")
                has_latency = True
        right.set_title("Median latency over time (per second)")
        right.set_ylabel("ms")
        top = float(np.nanmax(np.concatenate([ttft, e2e]))) if has_latency else 1.0
        right.set_ylim(0, top * 1.3)
        right.yaxis.set_major_locator(MaxNLocator(nbins=5))
        _ms_axis(right, "y")
        if has_latency:
            right.legend(loc="upper right", ncols=2)
        else:
            right.yaxis.set_major_locator(NullLocator())
            right.text(
                0.5,
                0.5,
                "no successful request: no latency to show",
                transform=right.transAxes,
                ha="center",
                va="center",
                color=RED,
                fontsize=8.5,
            )
        warm = float(warmup_s) if warmup_s and warmup_s > 0 else 0.0
        quiet = warm > 0 and not (ok + failed)[t < warm].any()
        for ax in (left, right):
            ax.set_xlim(x_lo, x_hi)
            ax.set_xlabel("seconds since start")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
            ax.xaxis.set_major_formatter(PlainFormatter())
            if warm > x_lo:
                # on the left panel the bars live on the twin axes, below this one: shade
                # there, behind them, or the band would hide the warm-up's bars
                (tw if ax is left else ax).axvspan(
                    x_lo, min(warm, x_hi), color="#e2e8f0", zorder=-1, lw=0
                )
                # upright in the band: clear of the legend, whatever the band's width
                ax.text(
                    (x_lo + min(warm, x_hi)) / 2,
                    0.5,
                    "warm-up: nothing completed" if quiet else "warm-up (not counted)",
                    rotation=90,
                    ha="center",
                    va="center",
                    transform=ax.get_xaxis_transform(),
                    fontsize=7,
                    color="#475569",
                    zorder=6,
                    bbox={"facecolor": "#e2e8f0", "edgecolor": "none", "pad": 1.5, "alpha": 0.9},
                )
        return to_svg(fig)


def sweep_plot(runs: Sequence[BenchRun], axis: str, *, width_in: float = FULL_IN) -> str | None:
    """For a sweep: TTFT and E2E p50/p99, and throughput, against users or rate.

    Throughput is successful requests and output tokens per second. A step in which no
    request succeeded has no latency: it is marked with a red cross on every panel and
    named under the plot, rather than left out or drawn as zero latency.
    """
    xs = np.array([float(r.load[axis]) for r in runs])
    order = np.argsort(xs)
    xs = xs[order]
    runs = [runs[i] for i in order]
    health = [run_health(r) for r in runs]
    dead = np.array([not h.succeeded for h in health])

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

    log_x = bool(xs.min() > 0 and xs.max() / xs.min() >= 8)
    xlabel = "concurrent users" if axis == "users" else "offered rate (requests/s)"

    def mark_dead(ax: Axes) -> None:
        if dead.any():
            ax.plot(
                xs[dead],
                np.zeros(int(dead.sum())),
                linestyle="none",
                marker="X",
                markersize=8,
                color=RED,
                clip_on=False,
                zorder=5,
                label="no successful request",
            )

    with _figure(width_in, 3.0, ncols=3, twin=True, note=bool(dead.any())) as (fig, axes):
        for ax, metric, name, colour in (
            (axes[0][0], "ttft_ms", "TTFT", BLUE),
            (axes[0][1], "e2e_ms", "E2E latency", ORANGE),
        ):
            p50, p99 = pick(metric, "p50"), pick(metric, "p99")
            p50[dead], p99[dead] = np.nan, np.nan
            ax.plot(xs, p50, color=colour, marker="o", markersize=3.5, label="p50")
            if np.isfinite(p99).any():
                ax.fill_between(xs, p50, p99, color=colour, alpha=0.12, lw=0)
                ax.plot(
                    xs, p99, color=colour, marker="o", markersize=3.5, linestyle="--", label="p99"
                )
            mark_dead(ax)
            ax.set_title(f"{name} vs load")
            ax.set_ylabel("ms")
            finite = np.concatenate([p50[np.isfinite(p50)], p99[np.isfinite(p99)]])
            top = float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
            ax.set_ylim(0, top * 1.45)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
            _ms_axis(ax, "y")
            ax.legend(loc="upper left", ncols=3 if dead.any() else 2)
        right = axes[0][2]
        tok = pick("output_tokens_per_s")
        rps = np.array([np.nan if h.ok_rps is None else h.ok_rps for h in health])
        tw = right.twinx()
        tw.grid(False)
        tw.spines["right"].set_visible(True)
        bar_w: Any = np.diff(xs).min() * 0.35 if len(xs) > 1 else 0.5
        if log_x:
            bar_w = xs * 0.35  # log axis: bars proportional to x keep an even look
        tw.bar(xs, rps, width=bar_w, color="#cbd5e1", label="successful requests/s", zorder=0)
        tw.set_ylabel("successful requests/s")
        rps_top = float(np.nanmax(rps)) if np.isfinite(rps).any() else 0.0
        tw.set_ylim(0, (rps_top if rps_top > 0 else 1.0) * 1.7)
        tw.yaxis.set_major_locator(MaxNLocator(nbins=5))
        tw.yaxis.set_major_formatter(PlainFormatter())
        right.plot(xs, tok, color=GREEN, marker="o", markersize=3.5, label="output tokens/s")
        mark_dead(right)
        right.set_ylabel("output tokens/s")
        tok_top = float(np.nanmax(tok)) if np.isfinite(tok).any() else 0.0
        right.set_ylim(0, (tok_top if tok_top > 0 else 1.0) * 1.7)
        right.yaxis.set_major_locator(MaxNLocator(nbins=5))
        right.yaxis.set_major_formatter(PlainFormatter())
        right.set_zorder(tw.get_zorder() + 1)
        right.patch.set_visible(False)
        h1, l1 = right.get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        right.legend(h1 + h2, l1 + l2, loc="upper left", ncols=1)
        right.set_title("Throughput vs load (successful)")
        for ax in axes[0]:
            ax.set_xlabel(xlabel)
            if log_x:
                ax.set_xscale("log", base=2)
            ax.set_xticks(xs, labels=[f"{x:g}" for x in xs])
            ax.minorticks_off()
            if not log_x and len(xs) > 1:
                pad = (xs.max() - xs.min()) * 0.06
                ax.set_xlim(xs.min() - pad, xs.max() + pad)
        if dead.any():
            names = ", ".join(h.label for h, d in zip(health, dead, strict=True) if d)
            fig.text(
                0.62 / width_in,
                0.06 / 3.0,
                f"✕ No request succeeded at {names}: no latency there, throughput zero.",
                color=RED,
                fontsize=8,
            )
        return to_svg(fig)
