"""The results as markdown tables (ratios to the ceiling first), and py-spy summaries."""

import re
from collections import Counter
from typing import Any

# Aims of the issue, per scenario and variant: (text, check(row) -> bool | None).
Check = Any


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return a / b


def _failures(*figures: dict[str, Any]) -> str:
    """non-2xx and socket errors, and stalled rounds (no answer, or a long drain after)."""
    bad = sum(f["non_2xx"] + f["errors"] for f in figures)
    stalled = sum(f.get("stalled_rounds", 0) for f in figures)
    if not stalled:
        return str(bad)
    settle = max(f.get("max_settle_s", 0.0) for f in figures)
    return f"{bad}, **{stalled} stalled** (≤ {settle:.0f} s)"


def _met(flag: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[flag]


def _all(*flags: bool | None) -> bool | None:
    known = [f for f in flags if f is not None]
    return all(known) if known else None


def _aim(variant: str, scenario: str, ratio: float | None, p50: float, p99: float,
         statements: float | None) -> tuple[str, bool | None]:
    """The issue's aim for this row, and whether this run met it."""
    r = None if ratio is None else ratio
    if scenario == "users_get":
        if variant == "async":
            return "≥ 0.5, p99 ≤ 3×p50", _all(r is not None and r >= 0.5,
                                                p99 <= 3 * p50 if p50 else None)
        if variant == "sync":
            return "≥ 0.3", None if r is None else r >= 0.3
    if scenario == "heroes_list":
        sql_ok = None if statements is None else statements <= 3
        if variant == "async":
            return "≤ 3 SQL, ≥ 0.4", _all(sql_ok, None if r is None else r >= 0.4)
        return "≤ 3 SQL", sql_ok
    if scenario == "teams_post" and variant == "async":
        return "≥ 0.5", None if r is None else r >= 0.5
    return "—", None


STATEMENT_KEYS = {"users_get": "users_get", "heroes_list": "heroes_first",
                  "teams_post": "teams_post"}
LABELS = {"users_get": "GET /users/{id}", "heroes_list": "GET /heroes?limit=100",
          "teams_post": "POST /teams"}


def ceiling_table(results: dict[str, Any]) -> list[str]:
    lines = [
        ("| variant | workers | scenario | ratio to ceiling | req/s | ceiling req/s | "
         "p50 ms | p99 ms | ceiling p50/p99 ms | CPU µs/req (ceiling) | non-2xx | "
         "SQL/req (ceiling) | peak RSS/worker MiB | aim | met |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, v in results["variants"].items():
        statements = v.get("statements", {})
        ceiling_statements = results.get("ceiling_statements", {})
        for workers, block in v.get("blocks", {}).items():
            if not block.get("available"):
                lines.append(f"| {variant} | {workers} | all | not available | | | | | | | | | "
                             f"| | — |")
                continue
            peaks = block.get("service_memory", {}).get("peak_mib_per_worker", [])
            for scenario, label in LABELS.items():
                row = block["scenarios"].get(scenario)
                if row is None:
                    continue
                s, c = row["service"], row["ceiling"]
                ratio = _ratio(s["rps"], c["rps"])
                count = statements.get(STATEMENT_KEYS[scenario], {}).get("statements")
                aim, met = _aim(variant, scenario, ratio, s["p50_ms"], s["p99_ms"], count)
                lines.append(
                    f"| {variant} | {workers} | {label} | **{_fmt(ratio)}** | {_fmt(s['rps'], 0)} "
                    f"| {_fmt(c['rps'], 0)} | {_fmt(s['p50_ms'])} | {_fmt(s['p99_ms'])} | "
                    f"{_fmt(c['p50_ms'])} / {_fmt(c['p99_ms'])} | "
                    f"{_fmt(s.get('cpu_us_per_request'), 0)} "
                    f"({_fmt(c.get('cpu_us_per_request'), 0)}) | "
                    f"{_failures(s)} | {_fmt(count, 1)} "
                    f"({ceiling_statements.get(STATEMENT_KEYS[scenario], '?')}) | "
                    f"{', '.join(_fmt(p, 0) for p in peaks) or 'n/a'} | {aim} | {_met(met)} |"
                )
    return lines


def _pair(figures: dict[str, Any]) -> str:
    return f"{_fmt(figures['p50_ms'])} / {_fmt(figures['p99_ms'])}"


def _switches(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    return (f"{_fmt(ours.get('switches_per_request'), 1)} "
            f"({_fmt(theirs.get('switches_per_request'), 1)})")


def textbook_table(results: dict[str, Any]) -> list[str]:
    """The service against the textbook shape of its mode, and the comparison target."""
    lines = [
        ("| variant | workers | GET /users/{id} | service / textbook | service req/s | "
         "textbook req/s | service p50 / p99 ms | textbook p50 / p99 ms | "
         "CPU µs/req (textbook) | context switches/req (textbook) | non-2xx | aim | met |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    external: list[str] = []
    for variant, v in results["variants"].items():
        for workers, block in v.get("blocks", {}).items():
            row = block.get("scenarios", {}).get("textbook")
            if row is None:
                continue
            if not row.get("available"):
                lines.append(f"| {variant} | {workers} | textbook not available: "
                             f"{row.get('reason', '')[:200]} | | | | | | | | | | — |")
                continue
            s, t = row["service"], row["textbook"]
            ratio = _ratio(s["rps"], t["rps"])
            lines.append(
                f"| {variant} | {workers} | {row['mode']} shape | **{_fmt(ratio)}** | "
                f"{_fmt(s['rps'], 0)} | {_fmt(t['rps'], 0)} | {_pair(s)} | {_pair(t)} | "
                f"{_fmt(s.get('cpu_us_per_request'), 0)} "
                f"({_fmt(t.get('cpu_us_per_request'), 0)}) | {_switches(s, t)} | "
                f"{_failures(s, t)} | ≥ 1.0 | "
                f"{_met(None if ratio is None else ratio >= 1.0)} |")
            compare = row.get("compare")
            if compare and "external" in row:
                ours, theirs = row["service_items"], row["external"]
                ratio = _ratio(ours["rps"], theirs["rps"])
                external.append(
                    f"| {variant} | {workers} | **{_fmt(ratio)}** | {_fmt(ours['rps'], 0)} | "
                    f"{_fmt(theirs['rps'], 0)} | {_pair(ours)} | {_pair(theirs)} | "
                    f"{_fmt(ours.get('cpu_us_per_request'), 0)} "
                    f"({_fmt(theirs.get('cpu_us_per_request'), 0)}) | {_switches(ours, theirs)} | "
                    f"{_fmt(s['rps'], 0)} | {_failures(ours, theirs)} | ≥ 1.5 | "
                    f"{_met(None if ratio is None else ratio >= 1.5)} |")
            elif compare:
                external.append(f"| {variant} | {workers} | {compare['name']} not driven: "
                                f"{compare.get('reason', '')[:200]} | | | | | | | | | | — |")
    if len(lines) == 2:
        return []
    if external:
        compare = next(
            b["scenarios"]["textbook"]["compare"] for v in results["variants"].values()
            for b in v.get("blocks", {}).values()
            if "compare" in b.get("scenarios", {}).get("textbook", {}))
        name = compare["name"]
        lines += [
            "",
            (f"Beside it, in the same rounds: {name} serving `GET {compare['path']}` "
             "(an already-running server, same wrk settings) against the service's "
             "`GET /api/v1/items/{id}` (one item, its owner's token)."),
            "",
            (f"| variant | workers | ours / {name} | ours req/s | {name} req/s | "
             f"ours p50 / p99 ms | {name} p50 / p99 ms | CPU µs/req ours ({name}) | "
             f"context switches/req ours ({name}) | "
             "ours: GET /users/{id} req/s | non-2xx | aim | met |"),
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *external,
        ]
    return lines


def tail_table(results: dict[str, Any]) -> list[str]:
    """Each tail run's summary, and the worst service run second by second."""
    lines = [
        ("| variant | app | round | requests | p50 / p99 / max ms | wrk's p99 ms "
         "(corrected for coordinated omission) | "
         "full GCs (longest ms) | GC ms per s | connections opened (longest ms) | "
         "checkouts > 100 ms (longest ms) | unanswered checkouts | slowest 1 %: "
         "pool wait / new connection / GC pause / other |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    worst: list[tuple[str, int, dict[str, Any]]] = []
    for variant, v in results["variants"].items():
        t = v.get("tail")
        if t is None:
            continue
        if not t.get("available"):
            lines.append(f"| {variant} | not available: {t.get('reason', '')[:200]} |"
                         + " |" * 10)
            continue
        for app, runs in t["runs"].items():
            for i, run in enumerate(runs):
                m, c = run["summary"], run["causes"]
                if not m["requests"]:
                    lines.append(f"| {variant} | {app} | {i + 1} | 0 |" + " |" * 8)
                    continue
                wrk_p99 = run["wrk"].get("p99_us")
                lines.append(
                    f"| {variant} | {app} | {i + 1} | {m['requests']:,} | "
                    f"{m['p50_ms']:,.0f} / {m['p99_ms']:,.0f} / {m['max_ms']:,.0f} | "
                    f"{_fmt(None if wrk_p99 is None else wrk_p99 / 1000, 0)} | "
                    f"{m['gc_full']} ({m['gc_full_max_ms']:,.0f}) | {m['gc_ms_per_s']:,.0f} | "
                    f"{m['connects']} ({m['connect_max_ms']:,.0f}) | "
                    f"{m['checkouts_over_100ms']} ({m['checkout_max_ms']:,.0f}) | "
                    f"{m['unanswered_checkouts']} | "
                    + " / ".join(str(c[k]) for k in ("pool wait", "new connection", "gc pause",
                                                     "other")) + " |")
            if app == "service" and runs:
                best = max(range(len(runs)), key=lambda i: runs[i]["summary"].get("max_ms", 0))
                worst.append((variant, best + 1, runs[best]))
    if len(lines) == 2:
        return []
    for variant, i, run in worst:
        lines += [
            "",
            f"{variant}, the service's round {i} (its longest request), second by second "
            "(by completion; server events by when they began):",
            "",
            ("| s | requests | p50 / p99 / max ms | GC ms (full GCs) | connections opened | "
             "longest checkout ms | longest loop stall ms |"),
            "|---|---|---|---|---|---|---|",
        ]
        for row in run["seconds"]:
            lines.append(
                f"| {row['second']} | {row['requests']} | {row['p50_ms']:,.0f} / "
                f"{row['p99_ms']:,.0f} / {row['max_ms']:,.0f} | {row['gc_ms']:,.0f} "
                f"({row['gc_full']}) | {row['connects']} | {row['checkout_max_ms']:,.0f} | "
                f"{row['stall_max_ms']:,.0f} |")
    return lines


def internal_table(results: dict[str, Any]) -> list[str]:
    lines = ["| variant | comparison | A | B | B / A | aim | met | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for variant, v in results["variants"].items():
        if not v.get("available"):
            continue
        first = next(iter(v["blocks"].values()))
        sc = first.get("scenarios", {})
        if "heroes_deep" in sc:
            d = sc["heroes_deep"]
            ratio = _ratio(d["after_id_deep"]["p50_ms"], d["after_id_first"]["p50_ms"])
            lines.append(
                f"| {variant} | p50, after_id page at id {d['depth']:,} (B) vs first page (A) "
                f"| {_fmt(d['after_id_first']['p50_ms'])} ms | "
                f"{_fmt(d['after_id_deep']['p50_ms'])} ms | **{_fmt(ratio)}** | ≤ 1.5 | "
                f"{_met(None if ratio is None else ratio <= 1.5)} | "
                f"{_failures(d['after_id_first'], d['after_id_deep'])} |")
            skip = _ratio(d["skip_deep"]["p50_ms"], d["skip_first"]["p50_ms"])
            lines.append(
                f"| {variant} | p50, skip={d['depth']:,} page (B) vs skip=0 (A), for contrast "
                f"| {_fmt(d['skip_first']['p50_ms'])} ms | {_fmt(d['skip_deep']['p50_ms'])} ms "
                f"| {_fmt(skip)} | — | — | {_failures(d['skip_first'], d['skip_deep'])} |")
        if "live_bcrypt" in sc:
            lv = sc["live_bcrypt"]
            ratio = _ratio(lv["logins"]["p99_ms"], lv["idle"]["p99_ms"])
            logins = sum(r.get("logins", 0) for r in lv["logins"]["rounds"])
            lines.append(
                f"| {variant} | p99 GET /health/live, idle (A) vs during 8 logins at bcrypt "
                f"cost 12 (B; {logins} logins done) | {_fmt(lv['idle']['p99_ms'])} ms | "
                f"{_fmt(lv['logins']['p99_ms'])} ms | **{_fmt(ratio)}** | ≤ 2 | "
                f"{_met(None if ratio is None else ratio <= 2)} | "
                f"{_failures(lv['idle'], lv['logins'])} |")
            if "ceiling_idle" in lv:
                control = _ratio(lv["ceiling_logins"]["p99_ms"], lv["ceiling_idle"]["p99_ms"])
                lines.append(
                    f"| {variant} | control: the ceiling's p99 GET /health/live, idle (A) vs "
                    f"while the service runs the same logins (B) | "
                    f"{_fmt(lv['ceiling_idle']['p99_ms'])} ms | "
                    f"{_fmt(lv['ceiling_logins']['p99_ms'])} ms | {_fmt(control)} | "
                    f"(CPU contention alone) | — | "
                    f"{_failures(lv['ceiling_idle'], lv['ceiling_logins'])} |")
        if "rss" in sc:
            runs = sc["rss"]["runs"]
            growth = sc["rss"]["growth"]
            lines.append(
                f"| {variant} | RSS after mixed run 1 (A) vs run 3 (B), same process "
                f"| {_fmt(runs[0]['rss_mib'], 1)} MiB | {_fmt(runs[-1]['rss_mib'], 1)} MiB | "
                f"**{_fmt(None if growth is None else 1 + growth, 3)}** | ≤ 1.10 | "
                f"{_met(None if growth is None else growth <= 0.10)} | "
                f"{sum(r['non_2xx'] for r in runs)} |")
        scale = v.get("scale")
        if scale and scale.get("available"):
            small, big = scale["small"], scale["big"]
            users = scale["users"]
            ratio = _ratio(big["p50_ms"], small["p50_ms"])
            rps = _ratio(big["rps"], small["rps"])
            flat = None if ratio is None or rps is None else (ratio <= 1.15 and rps >= 0.85)
            lines.append(
                f"| {variant} | GET /users/{{id}} p50 (req/s), {users['small']:,} users (A) vs "
                f"{users['big']:,} (B) | {_fmt(small['p50_ms'])} ms ({_fmt(small['rps'], 0)}) "
                f"| {_fmt(big['p50_ms'])} ms ({_fmt(big['rps'], 0)}) | **{_fmt(ratio)}** "
                f"(req/s {_fmt(rps)}) | flat (±15 %) | {_met(flat)} | {_failures(small, big)} |")
        elif scale:
            lines.append(f"| {variant} | users table size | not available | | | flat | — | |")
    return lines


LAYERS = {
    "starlette": "bare Starlette + asyncpg (the ceiling)",
    "fastapi": "+ FastAPI routing, `user_id: int` parsing",
    "deps": "+ dependency chain (settings, OAuth2 token, current user)",
    "core": "+ SQLAlchemy Core connection from the pool",
    "orm": "+ ORM Session, `UnitOfWork.run`, two `session.get`-style loads (autocommit)",
    "transaction": "+ the units' transactions (BEGIN ... ROLLBACK)",
    "response_model": "+ `response_model=UserRead` validation and serialisation",
    "service": "+ middleware (request id, access log, metrics), full route table = the service",
}


TEXTBOOK_LAYER = ("beside the chain: the textbook shape of the mode (FastAPI's SQL tutorial: "
                  "def routes + Session, or async + AsyncSession; tests/perf/textbook.py)")


def ladder_steps(ladder: dict[str, Any], variant: str) -> list[dict[str, Any]]:
    """The chain of `variant`: per rung its CPU per request, the step from the rung
    below, and the step's share of the gap from the ceiling to the service."""
    rungs = ladder["rungs"]
    chain = [key for key in ladder["chains"][variant] if key in rungs]
    cpu = [rungs[key]["cpu_us_per_request"] for key in chain]
    if not chain or None in cpu:
        return []
    gap = cpu[-1] - cpu[0]
    steps = []
    for i, key in enumerate(chain):
        step = cpu[i] - cpu[i - 1] if i else None
        steps.append({"key": key, "rung": rungs[key]["rung"], "cpu_us": cpu[i], "step_us": step,
                      "share": step / gap if step is not None and gap else None,
                      "rps": rungs[key]["rps"], "p50_ms": rungs[key]["p50_ms"],
                      "p99_ms": rungs[key]["p99_ms"],
                      "non_2xx": rungs[key]["non_2xx"] + rungs[key]["errors"]})
    return steps


def ladder_table(ladder: dict[str, Any]) -> list[str]:
    variants = list(ladder["chains"])
    steps = {v: {s["rung"]: s for s in ladder_steps(ladder, v)} for v in variants}
    head = "| layer |" + "".join(
        f" {v}: CPU µs/req | {v}: step µs | {v}: share of gap | {v}: req/s |" for v in variants)
    lines = [head, "|---|" + "---|---|---|---|" * len(variants)]
    for rung in ("starlette", "fastapi", "deps", "core", "orm", "transaction", "response_model",
                 "service"):
        cells = []
        for v in variants:
            s = steps[v].get(rung)
            if s is None:
                cells.append(" n/a | | | |")
                continue
            share = f"{100 * s['share']:.0f} %" if s["share"] is not None else ""
            step = f"{s['step_us']:+,.0f}" if s["step_us"] is not None else ""
            cells.append(f" {s['cpu_us']:,.0f} | {step} | {share} | {s['rps']:,.0f} |")
        lines.append(f"| {LAYERS[rung]} |" + "".join(cells))
    cells = []
    for v in variants:
        rung = ladder["rungs"].get(f"{v}:textbook")
        cells.append(" n/a | | | |" if rung is None or rung["cpu_us_per_request"] is None else
                     f" {rung['cpu_us_per_request']:,.0f} | | | {rung['rps']:,.0f} |")
    lines.append(f"| {TEXTBOOK_LAYER} |" + "".join(cells))
    for v in variants:
        chain = ladder_steps(ladder, v)
        if chain:
            lines.append("")
            lines.append(f"{v}: the service spends {chain[-1]['cpu_us']:,.0f} µs of CPU per "
                         f"request, the ceiling {chain[0]['cpu_us']:,.0f} µs "
                         f"({chain[0]['cpu_us'] / chain[-1]['cpu_us']:.2f} of it).")
        service, shape = ladder["rungs"].get(f"{v}:service"), ladder["rungs"].get(f"{v}:textbook")
        if service and shape:
            lines.append(f"{v}: the service against the textbook shape of its mode: "
                         f"{_fmt(_ratio(service['rps'], shape['rps']))} of its req/s (aim ≥ 1), "
                         f"{_fmt(service['cpu_us_per_request'], 0)} vs "
                         f"{_fmt(shape['cpu_us_per_request'], 0)} µs/req.")
        for aside, key in ladder.get("asides", {}).get(v, {}).items():
            base = ladder["rungs"].get(f"{v}:core")
            other = ladder["rungs"].get(key)
            if aside != "core_ping":
                continue
            if base and other and base["cpu_us_per_request"] and other["cpu_us_per_request"]:
                ping = "on" if other.get("pre_ping") else "off"
                lines.append(f"{v}: `core` with pre-ping {ping} ({aside}, the service's "
                             f"setting flipped): {other['cpu_us_per_request']:,.0f} µs/req "
                             f"vs {base['cpu_us_per_request']:,.0f} µs/req, "
                             f"{other['rps']:,.0f} vs {base['rps']:,.0f} req/s.")
    for key, reason in ladder.get("failed", {}).items():
        lines.append(f"{key}: not available: {reason[:300]}")
    return lines


def ladder_text(ladder: dict[str, Any]) -> str:
    return "\n".join(ladder_table(ladder))


def ladder_chart(ladder: dict[str, Any], path: Any) -> bool:
    """A stacked bar per variant: CPU µs per request by layer. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    variants = [v for v in ladder["chains"] if ladder_steps(ladder, v)]
    if not variants:
        return False
    fig, ax = plt.subplots(figsize=(9, 5.5))
    rungs = list(LAYERS)
    colours = plt.get_cmap("tab10").colors
    for x, v in enumerate(variants):
        # A step that measured negative (noise) is folded into the one below it, so the
        # bar stays a stack; the table keeps every step as measured.
        segments: list[list[Any]] = []
        for s in ladder_steps(ladder, v):
            height = s["cpu_us"] if s["step_us"] is None else s["step_us"]
            if height < 0 and segments:
                segments[-1][1] += height
                segments[-1][2] = True
            else:
                segments.append([s["rung"], height, False])
        bottom = 0.0
        for rung, height, folded in segments:
            colour = colours[rungs.index(rung) % len(colours)]
            if folded:
                nxt = rungs[rungs.index(rung) + 1]
                ax.text(x + 0.3, bottom + height / 2, f"incl. {nxt}", fontsize=7, va="center")
            ax.bar(x, height, bottom=bottom, color=colour, width=0.55,
                   label=LAYERS[rung].replace("`", "") if x == 0 else None)
            if abs(height) > 8:
                ax.text(x, bottom + height / 2, f"{height:,.0f}", ha="center", va="center",
                        fontsize=8)
            bottom += height
        ax.text(x, bottom, f"{bottom:,.0f} µs", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(variants)), [f"{v} mode" for v in variants])
    ax.set_ylabel("CPU µs per request (server process)")
    ax.set_title("GET /api/v1/users/{id}: where the CPU goes, layer by layer")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def markdown(results: dict[str, Any], ladder: bool = True) -> str:
    m = results["machine"]
    load = results["load"]
    out = [
        (f"Mode {results['mode']}: {load['rounds']} A B pairs of {load['duration_s']} s per "
         f"comparison, wrk {load['threads']} threads / {load['connections']} connections, "
         f"servers started with `python -m {load.get('launcher', 'uvicorn')}`; "
         f"{m['cpus']} CPUs ({m['cpu']}), Python {m['python']}."),
        "",
        *ceiling_table(results),
        "",
        *internal_table(results),
    ]
    textbook = textbook_table(results)
    if textbook:
        out += ["", "Against the textbook shape (tests/perf/textbook.py), A B A B:", "",
                *textbook]
    tails = tail_table(results)
    if tails:
        out += ["", ("Per-second tail (tests/perf/tail.py, probes.py): every request timed, "
                     "one wrk thread per connection, the server's events beside:"), "", *tails]
    for variant, v in results["variants"].items():
        for workers, block in v.get("blocks", {}).items():
            if not block.get("available"):
                reason = block.get("reason", "")[:500]
                out += ["", f"{variant} (workers {workers}) not available: {reason}"]
        if "error" in v.get("statements", {}):
            out += ["", f"{variant}: statements not counted: {v['statements']['error'][:300]}"]
    for variant, v in results["variants"].items():
        for workers, block in v.get("blocks", {}).items():
            if "profile" in block:
                out += ["", *profile_lines(f"{variant}, {workers} worker(s)", block["profile"])]
    if ladder and results.get("ladder"):
        out += ["", "Cost ladder, GET /users/{id} (tests/perf/ladder.py):", "",
                *ladder_table(results["ladder"])]
    if results.get("aborted"):
        out += ["", f"ABORTED: {results['aborted']}"]
    return "\n".join(out)


def profile_lines(title: str, profile: dict[str, Any], top: int = 8) -> list[str]:
    rps = _fmt(profile.get("rps_while_profiled"), 0)
    lines = [f"py-spy, GET /users/{{id}}, {title} ({rps} req/s while sampled):"]
    for key, label in (("gil", "holding the GIL"), ("wall", "wall clock, all threads")):
        data = profile.get(key, {})
        if "error" in data or not data:
            lines.append(f"- {label}: {data.get('error', 'no samples')}")
            continue
        lines.append(f"- {label}, innermost frames ({data['busy_samples']} busy samples):")
        lines += [f"  - {x['percent']} % {x['frame']}" for x in data["self"][:top]]
        lines.append(f"- {label}, app/ lines on the stack:")
        lines += [f"  - {x['percent']} % {x['frame']}" for x in data["app_lines"][:top]]
        if data.get("by_package"):
            shares = ", ".join(f"{x['package']} {x['percent']} %" for x in data["by_package"][:top])
            lines.append(f"- {label}, innermost frame by package: {shares}")
    return lines


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# A thread whose innermost frame is one of these is waiting, not working.
_IDLE_FILES = ("threading.py", "selectors.py", "queue.py")


def summarize_profile(raw: str, top: int = 15) -> dict[str, Any]:
    """py-spy's collapsed stacks (root first): where the busy samples go.

    Samples of idle threads (waiting on a lock, a queue or epoll) are counted
    apart; percentages are of the busy samples. `self` is the innermost frame,
    `inclusive_by_function` any frame on the stack, `app_lines` the lines of
    app/ on the stack, `by_package` the innermost frame's top-level package
    (where the time is spent: sqlalchemy, fastapi, asyncpg, logging, ...).
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    app_lines: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    busy = idle = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [m for f in stack.split(";") if (m := _FRAME.match(f))]
        if not frames:
            continue
        if frames[-1]["file"].endswith(_IDLE_FILES):
            idle += count
            continue
        busy += count
        own[frames[-1].group(0)] += count
        packages[_package(frames[-1]["file"])] += count
        for name in {f"{m['func']} ({m['file']})" for m in frames}:
            inclusive[name] += count
        for name in {m.group(0) for m in frames if m["file"].startswith("app/")}:
            app_lines[name] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": f, "samples": n, "percent": round(100 * n / busy, 1)}
                for f, n in counter.most_common(top)]

    return {"busy_samples": busy, "idle_samples": idle, "self": share(own),
            "inclusive_by_function": share(inclusive), "app_lines": share(app_lines),
            "by_package": [{"package": name, "samples": n, "percent": round(100 * n / busy, 1)}
                           for name, n in packages.most_common()]}


def _package(file: str) -> str:
    """`sqlalchemy/orm/session.py` -> `sqlalchemy`; a top-level module is its own name."""
    if file.startswith("<"):
        return "python"  # <frozen ...>, <string>
    head = file.split("/", 1)[0]
    return head.removesuffix(".py")


def document(results: dict[str, Any], chart: str | None, changes: str) -> str:
    """tests/perf/REPORT.md: one run's tables, the ladder and its chart, and the changes."""
    commit = results.get("commit", "?")
    out = [
        "# Performance: one run",
        "",
        "Generated by `" + results["command"] + "` at commit " + commit + " "
        "(`--write-report` writes this file and `ladder.png`). How the harness measures "
        "is in `tests/perf/__init__.py` and the README; ratios only mean something within "
        "one run, and this machine is shared, so they move between runs.",
        "",
        "## Against the ceiling",
        "",
        ("Every scenario, both modes, one and two workers; CPU µs/req is the server "
        "processes' user + system time over the rounds divided by the requests served. "
        "The non-2xx column also counts wrk's socket errors and timeouts (no answer "
        "within 5 s)."),
        "",
        markdown(results, ladder=False),
    ]
    if results.get("ladder"):
        out += ["", "## The cost ladder", "",
                ("`GET /api/v1/users/{id}`, authenticated, served by apps that each add one "
                "layer of the service to the ceiling (`tests/perf/ladder.py`), one at a time, "
                "alternately over rounds. The step is the CPU the layer adds per request; its "
                "share is of the gap from the ceiling to the service. Steps below ~100 µs are "
                "within this machine's noise."), ""]
        if chart:
            out += [f"![CPU per request by layer]({chart})", ""]
        out += ladder_table(results["ladder"])
    if changes.strip():
        out += ["", changes.strip()]
    return "\n".join(out) + "\n"
