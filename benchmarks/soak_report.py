"""The soak's report: a line per server, and the plain vs secure comparison (``--secure both``)."""

from __future__ import annotations

from typing import Any


def compare(servers: list[dict[str, Any]]) -> dict[str, Any]:
    """Per config soaked both ways: good requests per second and latencies, plain vs secure."""
    out = {}
    for plain in servers:
        secure = next(
            (s for s in servers if s["config"] == plain["config"] and s is not plain), None
        )
        if "skipped" in plain or secure is None or plain.get("secure", "").startswith("api"):
            continue

        def rate(r: dict[str, Any]) -> float:
            return round(r["good"] / r["seconds"], 1) if r["seconds"] else 0.0

        out[plain["config"]] = {
            "good_per_s": {"plain": rate(plain), "secure": rate(secure)},
            "good_p50_ms": {"plain": plain["good_p50_ms"], "secure": secure["good_p50_ms"]},
            "good_p99_ms": {"plain": plain["good_p99_ms"], "secure": secure["good_p99_ms"]},
            "errors_5xx": {"plain": plain["errors_5xx"], "secure": secure["errors_5xx"]},
            "both_passed": plain["passed"] and secure["passed"],
        }
    return out


def line_of(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"{r['config']}: skipped: {r['skipped']}"
    line = (
        f"{r['task']} ({r['secure']}): {r['requests']} requests ({r['good']} good, {r['bad']} bad, "
        f"{r['slow_bodies']} slow) by status {r['by_status']}; unexpected "
        f"{len(r['unexpected'])}; good p50/p99 {r['good_p50_ms']}/{r['good_p99_ms']} ms; "
    )
    if "long_requests" in r:
        line += f"a long text alone {r['long_alone_ms']} ms, {r['long_requests']} among them, "
        line += f"p50/max {r['long_p50_ms']}/{r['long_max_ms']} ms; "
    return line + (
        f"idle closed {r['idle_closed']}/{r['idle_connections']}; RSS {r['rss_start_mb']} -> "
        f"{r['rss_end_mb']} MB; passed: {r['passed']}"
    )
