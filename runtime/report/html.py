"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network.

What a person wants first after a run, top to bottom: what happened (status, failure), where
the time went (a share bar, then the timeline), what it moved and what it cost (an estimate),
then the tables. Every figure that comes from the report carries ``data-json`` (its path in
``--json``) and ``data-value`` (the raw value), so a test can check the page against the JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

from runtime.report.model import (
    Attempt,
    CostEstimate,
    CostLine,
    ExecutionReport,
    RunSetReport,
    RunSetRow,
    Transfer,
)

# Colours of the step kinds: the bars, the share bar and its legend.
KIND_COLOURS = {
    "prepare": "#7c8aa5",
    "register": "#9aa5b8",
    "stage_in": "#2f80ed",
    "queued": "#d9a400",
    "attempt": "#27ae60",
    "run": "#27ae60",
    "stage_out": "#9b51e0",
    "cleanup": "#8d99ae",
}
KIND_LABELS = {
    "prepare": "prepare",
    "register": "register",
    "stage_in": "stage in",
    "queued": "queued",
    "attempt": "job",
    "run": "job",
    "stage_out": "stage out",
    "cleanup": "cleanup",
}

BETWEEN = "between steps"
# A stage of thousands of inputs stays a page: this many bars under a stage, rows in the table.
TIMELINE_TRANSFERS = 12
TABLE_TRANSFERS = 500
CAPACITY_TEXT = {
    "local": "this machine",
    "on-demand": "on-demand",
    "spot": "Spot",
    "spot or on-demand": "Spot, or on-demand when Spot is full (the queue's order)",
}

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#5d6675;--line:#e3e6eb;--track:#eef0f4;
--ok:#1e8e3e;--bad:#c62828;--warn:#b26a00}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1d2128;--ink:#e8eaee;
--muted:#a2aab6;--line:#2e343d;--track:#262b33;--ok:#5cc47a;--bad:#ef6a6a;--warn:#e0a43a}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:1080px;margin:0 auto;padding:20px 16px 40px}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 14px;margin-bottom:4px}
h1{font-size:22px;margin:0;word-break:break-all}
h2{font-size:16px;margin:0 0 10px}
.lede{color:var(--muted);font-size:13px;margin:0 0 16px}
.pill{display:inline-block;padding:2px 10px;border-radius:999px;font-weight:600;font-size:13px;
color:#fff}
.pill.ok{background:var(--ok)}.pill.bad{background:var(--bad)}.pill.other{background:var(--warn)}
.banner{border-left:4px solid var(--bad);background:var(--card);padding:10px 14px;
border-radius:6px;margin:0 0 16px;word-break:break-word}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;
margin-bottom:16px}
.card,.panel{background:var(--card);border:1px solid var(--line);border-radius:10px}
.card{padding:12px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:650;margin-top:2px;white-space:nowrap}
.card .d{color:var(--muted);font-size:12px}
.panel{padding:14px 16px;margin-bottom:16px;overflow:hidden}
.share{display:flex;height:18px;border-radius:5px;overflow:hidden;background:var(--track)}
.share span{display:block;height:100%}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:8px;font-size:13px;color:var(--muted)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.tl-row{display:grid;grid-template-columns:minmax(92px,20%) 1fr 76px;align-items:center;
gap:8px;height:26px}
.tl-row.sub{height:17px}
.tl-row .label{font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.tl-row.sub .label{padding-left:14px;color:var(--muted);font-size:12px}
.tl-row .dur{font-size:12px;color:var(--muted);text-align:right;white-space:nowrap}
.track{position:relative;height:18px;background:var(--track);border-radius:4px;overflow:hidden}
.tl-row.sub .track{height:10px;background:transparent}
.track svg{position:absolute;inset:0;width:100%;height:100%;display:block}
.bar.failed{stroke:var(--bad);stroke-width:3px;vector-effect:non-scaling-stroke}
.axis{position:relative;height:18px;margin-left:calc(min(20%,9999px));font-size:11px;
color:var(--muted)}
.axis-wrap{display:grid;grid-template-columns:minmax(92px,20%) 1fr 76px;gap:8px}
.axis span{position:absolute;transform:translateX(-50%);white-space:nowrap}
.note{font-size:12px;color:var(--muted)}
.notes{margin:10px 0 0;padding-left:18px;font-size:13px}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td .uri,td .why{word-break:break-all;color:var(--muted);font-size:12px}
td .why{word-break:normal}
.facts td,li code{overflow-wrap:anywhere}
td.name{min-width:160px}td.id{white-space:nowrap}
tfoot td{font-weight:650;border-bottom:none}
.yes{color:var(--ok);font-weight:600}.no{color:var(--muted)}
.estimate{display:inline-block;font-size:11px;font-weight:700;letter-spacing:.06em;
text-transform:uppercase;color:var(--warn);border:1px solid var(--warn);border-radius:4px;
padding:0 5px;margin-left:6px;vertical-align:middle}
footer{color:var(--muted);font-size:12px;margin-top:8px}
@media (max-width:600px){.tl-row,.axis-wrap{grid-template-columns:88px 1fr 58px}
.wide{display:none}.axis span:nth-child(even){display:none}
.card .v{font-size:19px}h1{font-size:19px}}
"""


# --- formatting ---------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size(count: int | None) -> str:
    if count is None:
        return "–"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rate(bytes_per_second: float | None) -> str:
    return "–" if bytes_per_second is None else f"{size(round(bytes_per_second))}/s"


def usd(amount: float) -> str:
    if amount == 0:
        return "$0.00"
    if amount < 0.000001:
        return "< $0.000001"
    if amount < 0.01:
        return f"${amount:.6f}"
    return f"${amount:,.2f}"


def quantity(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.6f}".rstrip("0").rstrip(".") or "0"


def unit(line: CostLine) -> str:
    """The unit as counted: "1 request", "5 requests"."""
    return line.unit.removesuffix("s") if line.quantity == 1 else line.unit


def unit_price(amount: float) -> str:
    """A price per unit; the tiny ones (a request, a transition) per million units."""
    if amount == 0:
        return "free"
    if amount < 0.001:
        return f"${amount * 1e6:,.2f} per M"
    return usd(amount)


def when(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _figure(path: str, value: object, text: str, tag: str = "span", cls: str = "") -> str:
    """A figure of the report: its text, with its ``--json`` path and raw value beside it."""
    raw = "" if value is None else json.dumps(value)
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<{tag}{klass} data-json="{escape(path)}" data-value="{escape(raw)}">'
        f"{escape(text)}</{tag}>"
    )


# --- the page -----------------------------------------------------------------------------


def _page(title: str, body: str, data: str) -> str:
    # The JSON rides along for anyone who saves the page; "<" escaped so no "</script>" ends it.
    embedded = data.replace("<", "\\u003c")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title>"
        '<meta name="color-scheme" content="light dark">'
        f"<style>{CSS}</style></head><body><main>{body}</main>"
        f'<script type="application/json" id="report-data">{embedded}</script>'
        "</body></html>\n"
    )


def _status_pill(status: str) -> str:
    cls = "ok" if status == "SUCCEEDED" else "bad" if status in ("FAILED", "TIMED_OUT") else "other"
    return f'<span class="pill {cls}" data-json="status">{escape(status)}</span>'


def _card(key: str, value_html: str, detail_html: str = "") -> str:
    detail = f'<div class="d">{detail_html}</div>' if detail_html else ""
    return (
        f'<div class="card"><div class="k">{escape(key)}</div>'
        f'<div class="v">{value_html}</div>{detail}</div>'
    )


def _share_bar(report: ExecutionReport) -> str:
    """Where the time went: the run's seconds by step kind, as one stacked bar.

    Register runs beside the stage-in, so it is left out to keep the shares those of the
    run; what no step covers (transitions, a job between attempts) is "between steps".
    """
    totals: dict[str, float] = {}
    for step in report.steps:
        if step.kind == "register":
            continue
        label = KIND_LABELS[step.kind]
        totals[label] = totals.get(label, 0.0) + step.seconds
    return _share_panel(totals, report.seconds or 0.0)


def _share_panel(totals: dict[str, float], wall: float, title: str = "Where the time went") -> str:
    """``totals``: seconds by label; what they leave of ``wall`` is "between steps"."""
    covered = sum(totals.values())
    whole = max(covered, wall)
    if whole <= 0:
        return ""
    if whole - covered > whole * 0.005:
        totals = totals | {BETWEEN: whole - covered}
    colours = {KIND_LABELS[kind]: colour for kind, colour in KIND_COLOURS.items()}
    colours[BETWEEN] = "#d5d9e0"
    parts, legend = [], []
    for label, seconds in totals.items():
        share = seconds / whole * 100
        parts.append(
            f'<span style="width:{share:.3f}%;background:{colours[label]}" '
            f'title="{escape(label)} {duration(seconds)}"></span>'
        )
        legend.append(
            f'<span><i style="background:{colours[label]}"></i>{escape(label)} '
            f"{share:.0f}% · {duration(seconds)}</span>"
        )
    return (
        f'<section class="panel"><h2>{escape(title)}</h2>'
        f'<div class="share" role="img" aria-label="time per step">{"".join(parts)}</div>'
        f'<div class="legend">{"".join(legend)}</div></section>'
    )


CLOCK_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def tick_label(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _ticks(span: float) -> list[float]:
    if span <= 0:
        return [0.0]
    raw = span / 5
    if raw < 10:
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    else:  # whole seconds, minutes and hours from 10 s on
        step = next((s for s in CLOCK_STEPS if s >= raw), 3600 * math.ceil(raw / 3600))
    return [i * step for i in range(int(span / step + 1e-9) + 1)]


def _bar_svg(x: float, width: float, colour: str, cls: str, attributes: str = "") -> str:
    # viewBox in per-mille of the run, stretched to the track: the bar keeps its place on any
    # screen; a bar too short to see is drawn a little wider.
    width = max(width, 3.0)
    x = min(x, 1000 - width)
    return (
        '<svg viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true">'
        f'<rect class="{cls}" x="{x:.2f}" y="0" width="{width:.2f}" height="10" '
        f'fill="{colour}"{attributes}></rect></svg>'
    )


def _timeline(report: ExecutionReport) -> str:
    if not report.steps:
        return ""
    origin = min(step.started_at for step in report.steps)
    end = max(
        [step.ended_at for step in report.steps] + ([report.ended_at] if report.ended_at else [])
    )
    span = max((end - origin).total_seconds(), 1e-3)

    def place(started: datetime, ended: datetime) -> tuple[float, float]:
        start = (started - origin).total_seconds() / span * 1000
        return start, (ended - started).total_seconds() / span * 1000

    rows = []
    transfers: dict[str, list[Transfer]] = {"stage_in": [], "stage_out": []}
    for transfer in report.transfers:
        transfers[transfer.direction].append(transfer)
    for index, step in enumerate(report.steps):
        x, width = place(step.started_at, step.ended_at)
        cls = "bar step" + ("" if step.ok else " failed")
        title = f"{step.name}: {duration(step.seconds)}" + (f" — {step.note}" if step.note else "")
        rows.append(
            '<div class="tl-row">'
            f'<div class="label" title="{escape(title)}">{escape(step.name)}</div>'
            f'<div class="track" title="{escape(title)}">'
            + _bar_svg(
                x,
                width,
                KIND_COLOURS[step.kind],
                cls,
                f' data-kind="{step.kind}" data-index="{index}" data-seconds="{step.seconds}"',
            )
            + "</div>"
            + _figure(f"steps.{index}.seconds", step.seconds, duration(step.seconds), "div", "dur")
            + "</div>"
        )
        if step.kind in transfers:
            timed = [
                (t, t.started_at, t.ended_at)
                for t in transfers.pop(step.kind)
                if t.started_at and t.ended_at
            ]
            for transfer, started_at, ended_at in timed[:TIMELINE_TRANSFERS]:
                tx, tw = place(started_at, ended_at)
                label = transfer.name + (" (cache hit)" if transfer.cache_hit else "")
                rows.append(
                    '<div class="tl-row sub">'
                    f'<div class="label" title="{escape(transfer.remote)}">{escape(label)}</div>'
                    '<div class="track">'
                    + _bar_svg(tx, tw, KIND_COLOURS[step.kind], "bar transfer", ' opacity="0.55"')
                    + f'</div><div class="dur">{duration(transfer.seconds)}</div></div>'
                )
            if len(timed) > TIMELINE_TRANSFERS:
                rows.append(
                    '<div class="tl-row sub"><div class="label">'
                    f"+ {len(timed) - TIMELINE_TRANSFERS:,} more</div><div></div><div></div></div>"
                )
    ticks = "".join(
        f'<span style="left:{tick / span * 100:.3f}%">{tick_label(tick)}</span>'
        for tick in _ticks(span)
    )
    return (
        '<section class="panel"><h2>Timeline</h2>'
        f'<div class="timeline" role="img" aria-label="timeline of {len(report.steps)} steps">'
        + "".join(rows)
        + f'<div class="axis-wrap"><div></div><div class="axis" style="margin-left:0">{ticks}</div>'
        "<div></div></div></div>"
        + _step_notes(report)
        + f'<p class="note">From {escape(when(origin))}; each bar is one step, the thin ones the '
        "inputs and outputs staged within it.</p></section>"
    )


def _step_notes(report: ExecutionReport) -> str:
    notes = [
        f"<li><b>{escape(step.name)}</b>: {escape(step.note or 'failed')}</li>"
        for step in report.steps
        if step.note or not step.ok
    ]
    return f'<ul class="notes">{"".join(notes)}</ul>' if notes else ""


def _transfers_table(report: ExecutionReport) -> str:
    if not report.transfers:
        return ""
    rows = []
    for index, t in enumerate(report.transfers[:TABLE_TRANSFERS]):
        path = f"transfers.{index}"
        cache = (
            '<span class="yes">hit</span>'
            if t.cache_hit
            else ('<span class="no">–</span>' if t.direction == "stage_in" else "")
        )
        if t.reused_from:
            cache = f"reused from {escape(t.reused_from)}"
        rows.append(
            "<tr>"
            f"<td>{'in' if t.direction == 'stage_in' else 'out'}</td>"
            f'<td class="name">{escape(t.name)}<div class="uri">{escape(t.remote)}</div></td>'
            + _figure(f"{path}.bytes", t.bytes, size(t.bytes), "td", "n")
            + _figure(f"{path}.objects", t.objects, f"{t.objects}", "td", "n")
            + f'<td class="n wide">{t.skipped}</td>'
            + _figure(f"{path}.seconds", t.seconds, duration(t.seconds), "td", "n")
            + _figure(f"{path}.rate", t.rate, rate(t.rate), "td", "n wide")
            + f"<td>{cache}</td></tr>"
        )
    return (
        '<section class="panel"><h2>Inputs and outputs</h2><div class="tablewrap"><table>'
        "<thead><tr><th></th><th>input or output</th><th class=n>moved</th>"
        "<th class=n>objects</th><th class='n wide'>already current</th><th class=n>time</th>"
        "<th class='n wide'>rate</th><th>cache</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        + (
            f'<p class="note">The first {TABLE_TRANSFERS:,} of {len(report.transfers):,}; '
            "--json lists them all.</p>"
            if len(report.transfers) > TABLE_TRANSFERS
            else ""
        )
        + "</section>"
    )


def _ran(attempt: Attempt) -> float | None:
    if attempt.started_at is None or attempt.stopped_at is None:
        return None
    return (attempt.stopped_at - attempt.started_at).total_seconds()


def _job_table(report: ExecutionReport) -> str:
    job = report.job
    if job is None:
        return ""
    asked = ", ".join(
        part
        for part in (
            f"{job.vcpus:g} vCPU" if job.vcpus is not None else "",
            f"{job.memory_mib} MiB" if job.memory_mib is not None else "",
            f"{job.gpu} GPU" if job.gpu else "",
        )
        if part
    )
    facts = [
        ("image", escape(job.image or "–")),
        ("asked for", escape(asked or "–")),
        (
            "ran on",
            escape(
                job.instance_type
                or ("this machine" if job.capacity == "local" else "instance type not reported")
            ),
        ),
        ("capacity", escape(CAPACITY_TEXT[job.capacity])),
    ]
    if job.queue:
        facts.insert(0, ("queue", escape(job.queue)))
    if job.job_id:
        facts.insert(0, ("Batch job", escape(job.job_id)))
    rows = "".join(f"<tr><th>{key}</th><td>{value}</td></tr>" for key, value in facts)
    attempts = "".join(
        "<tr>"
        f'<td class="n">{a.number}</td><td class="wide">{escape(when(a.started_at))}</td>'
        f'<td class="n">{duration(_ran(a))}</td>'
        f'<td class="n">{"–" if a.exit_code is None else a.exit_code}</td>'
        f"<td>{'<b>Spot reclaimed</b> ' if a.spot_reclaimed else ''}"
        f"{escape(a.reason or '')}</td></tr>"
        for a in job.attempts
    )
    return (
        '<section class="panel"><h2>The job</h2><div class="tablewrap"><table class="facts">'
        f"<tbody>{rows}</tbody></table></div>"
        + (
            '<h2 style="margin-top:14px">Attempts</h2><div class="tablewrap"><table>'
            "<thead><tr><th class=n>#</th><th class=wide>started</th><th class=n>ran</th>"
            "<th class=n>exit code</th><th>reason</th></tr></thead>"
            f"<tbody>{attempts}</tbody></table></div>"
            if job.attempts
            else ""
        )
        + "</section>"
    )


def _cost_table(cost: CostEstimate, path: str = "cost") -> str:
    rows = "".join(
        "<tr>"
        f"<td>{escape(line.item)}"
        + (f'<div class="why">{escape(line.note)}</div>' if line.note else "")
        + "</td>"
        f'<td class="n wide">{quantity(line.quantity)} {escape(unit(line))}</td>'
        f'<td class="n wide">{unit_price(line.unit_usd)}</td>'
        + _figure(f"{path}.lines.{index}.usd", line.usd, usd(line.usd), "td", "n")
        + "</tr>"
        for index, line in enumerate(cost.lines)
    )
    aside = f'<p class="note">{escape(cost.aside)}</p>' if cost.aside else ""
    return (
        '<section class="panel"><h2>Cost <span class="estimate">estimate</span></h2>'
        '<div class="tablewrap"><table><thead><tr><th>what</th><th class="n wide">quantity</th>'
        "<th class='n wide'>unit price</th><th class=n>USD</th></tr></thead>"
        f"<tbody>{rows}</tbody><tfoot><tr><td>total (estimate)</td>"
        '<td class="wide"></td><td class="wide"></td>'
        + _figure(f"{path}.total_usd", cost.total_usd, usd(cost.total_usd), "td", "n")
        + "</tr></tfoot></table></div>"
        f'{aside}<p class="note">An estimate, not a bill: list prices of '
        f"{escape(cost.prices_as_of)} "
        f"for {escape(cost.region)} (other regions differ; no free tier or discounts). "
        f"Source: {escape(cost.prices_source)}.</p></section>"
    )


def render_execution(report: ExecutionReport) -> str:
    """The page of one execution."""
    head = (
        f"<header><h1>{escape(report.execution_id)}</h1>{_status_pill(report.status)}</header>"
        f'<p class="lede">{escape(report.where)} · started {escape(when(report.started_at))}'
        + (f" · ended {escape(when(report.ended_at))}" if report.ended_at else " · still running")
        + "</p>"
    )
    banner = ""
    if report.status != "SUCCEEDED" and (report.failed_step or report.error):
        banner = (
            '<div class="banner"><b>Failed'
            + (f" in {escape(report.failed_step)}" if report.failed_step else "")
            + "</b>"
            + (f": {escape(report.error)}" if report.error else "")
            + "</div>"
        )
    job_seconds = sum(s.seconds for s in report.steps if s.kind in ("attempt", "run"))
    queued = sum(s.seconds for s in report.steps if s.kind == "queued")
    total = report.seconds
    ins = [t for t in report.transfers if t.direction == "stage_in"]
    outs = [t for t in report.transfers if t.direction == "stage_out"]
    job_share = f"{job_seconds / total * 100:.0f}% of the run" if total else ""
    if queued:
        job_share += f"; {duration(queued)} queued"
    cards = (
        _card(
            "duration",
            _figure("seconds", total, duration(total)),
            escape(f"{len(report.steps)} steps"),
        )
        + _card("in the job", escape(duration(job_seconds)), escape(job_share))
        + _card(
            "staged in",
            _figure("staged_in_bytes", report.staged_in_bytes, size(report.staged_in_bytes)),
            f"{len(ins)} input{'s' if len(ins) != 1 else ''} · "
            + _figure("cache_hits", report.cache_hits, f"{report.cache_hits}")
            + " cache hit"
            + ("s" if report.cache_hits != 1 else ""),
        )
        + _card(
            "staged out",
            _figure("staged_out_bytes", report.staged_out_bytes, size(report.staged_out_bytes)),
            f"{len(outs)} output{'s' if len(outs) != 1 else ''}",
        )
        + _card(
            "cost",
            _figure("cost.total_usd", report.cost.total_usd, usd(report.cost.total_usd)),
            '<span class="estimate">estimate</span>',
        )
    )
    links = "".join(
        f"<li>{escape(name)}: <code>{escape(target)}</code></li>"
        for name, target in report.links.items()
    )
    body = (
        head
        + banner
        + f'<div class="cards">{cards}</div>'
        + _share_bar(report)
        + _timeline(report)
        + _transfers_table(report)
        + _job_table(report)
        + _cost_table(report.cost)
        + (f'<section class="panel"><h2>Details</h2><ul>{links}</ul></section>' if links else "")
        + f"<footer>demand report · schema {report.schema_version}</footer>"
    )
    return _page(f"{report.execution_id} — {report.status}", body, report.model_dump_json())


# --- a run set ----------------------------------------------------------------------------


def _histogram(report: RunSetReport) -> str:
    if not report.durations:
        return ""
    top = max(b.count for b in report.durations) or 1
    width = 1000 / len(report.durations)
    bars = "".join(
        f'<rect class="bar bin" x="{i * width + 2:.1f}" y="{100 - b.count / top * 96:.1f}" '
        f'width="{width - 4:.1f}" height="{b.count / top * 96:.1f}" fill="#2f80ed">'
        f"<title>{escape(duration(b.low_seconds))}–{escape(duration(b.high_seconds))}: "
        f"{b.count}</title></rect>"
        for i, b in enumerate(report.durations)
    )
    first, last = report.durations[0], report.durations[-1]
    return (
        '<section class="panel"><h2>Durations</h2>'
        '<svg viewBox="0 0 1000 100" preserveAspectRatio="none" style="width:100%;height:120px" '
        f'role="img" aria-label="distribution of row durations">{bars}</svg>'
        f'<div class="legend"><span>{escape(duration(first.low_seconds))}</span>'
        f'<span style="margin-left:auto">{escape(duration(last.high_seconds))}</span>'
        "</div></section>"
    )


def _rows_table(title: str, items: Sequence[RunSetRow], path: str) -> str:
    if not items:
        return ""
    body = "".join(
        f"<tr><td class='id'>{escape(r.execution_id)}</td><td>{escape(r.status)}</td>"
        + _figure(f"{path}.{i}.seconds", r.seconds, duration(r.seconds), "td", "n")
        + f'<td class="n wide">{usd(r.usd)}</td>'
        f"<td>{escape((r.failed_step or '') + (': ' + r.error if r.error else ''))}</td></tr>"
        for i, r in enumerate(items)
    )
    return (
        f'<section class="panel"><h2>{escape(title)}</h2><div class="tablewrap"><table>'
        "<thead><tr><th>execution</th><th>status</th><th class=n>duration</th>"
        "<th class='n wide'>cost</th><th>failure</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _counts(by_status: dict[str, int]) -> Iterable[str]:
    for status, count in sorted(by_status.items()):
        yield f"{count} {status.lower()}"


def _by_label(seconds_by_kind: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for kind, seconds in seconds_by_kind.items():
        if kind != "register" and kind in KIND_LABELS:
            totals[KIND_LABELS[kind]] = totals.get(KIND_LABELS[kind], 0.0) + seconds
    return totals


def render_run_set(report: RunSetReport) -> str:
    """The page of a run set: counts, time by step, the duration distribution, the slowest and
    the failed rows."""
    failed = sum(n for s, n in report.by_status.items() if s != "SUCCEEDED")
    status = "SUCCEEDED" if not failed else "FAILED"
    total = (
        (report.ended_at - report.started_at).total_seconds()
        if report.started_at and report.ended_at
        else None
    )
    cards = (
        _card(
            "executions",
            _figure("executions", report.executions, str(report.executions)),
            escape(", ".join(_counts(report.by_status))),
        )
        + _card("wall time", escape(duration(total)))
        + _card(
            "staged in",
            _figure("staged_in_bytes", report.staged_in_bytes, size(report.staged_in_bytes)),
            escape(f"{report.cache_hits} cache hits"),
        )
        + _card(
            "staged out",
            _figure("staged_out_bytes", report.staged_out_bytes, size(report.staged_out_bytes)),
        )
        + _card(
            "cost",
            _figure("total_usd", report.total_usd, usd(report.total_usd)),
            '<span class="estimate">estimate</span>',
        )
    )
    body = (
        f"<header><h1>{escape(report.set_id)}</h1>"
        + (
            f'<span class="pill bad">{failed} of {report.executions} failed</span>'
            if failed
            else _status_pill(status)
        )
        + "</header>"
        f'<p class="lede">run set · {report.executions} executions · started '
        f"{escape(when(report.started_at))}</p>"
        f'<div class="cards">{cards}</div>'
        + _share_panel(_by_label(report.step_seconds), 0.0, "Where the rows' time went")
        + _histogram(report)
        + _rows_table("Failed", report.failed, "failed")
        + _rows_table("Slowest", report.slowest, "slowest")
        + f"<footer>demand report · prices of {escape(report.prices_as_of)} · "
        f"schema {report.schema_version}</footer>"
    )
    return _page(f"{report.set_id} — run set", body, report.model_dump_json())
