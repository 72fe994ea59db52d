"""Metrics in the Prometheus text exposition format (version 0.0.4), and the small
HTTP server that serves them on ``MetricsListen`` (``GET /metrics``).

The daemon reports samples as flat mappings from a *sample key* to a number: the
metric's name in :data:`METRICS` (``"bindings_expired"``), or that name, a slash and
the value of the metric's label (``"binding_updates_received/accepted"``). Counters
come from :meth:`~mip6d.control.Daemon.counters`; gauges are read out of
:meth:`~mip6d.control.Daemon.status` (:func:`gauges_from_status`; a mapping there gives
one sample per label value).

:func:`render` is total: a key missing from the table is still exposed, with a
generic help text; a value that is not a number is left out.

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (``# HELP`` text
escapes ``\\`` and newline; label values escape ``\\``, ``"`` and newline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from mip6d.logs import log_event, log_exception

if TYPE_CHECKING:
    from mip6d.control import Daemon

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_PORT",
    "METRICS",
    "PREFIX",
    "Kind",
    "Metric",
    "gauges_from_status",
    "handle_http",
    "label_value",
    "render",
    "sample_key",
    "scrape",
    "serve_metrics",
]

_log = logging.getLogger("mip6d.metrics")

PREFIX = "mip6d_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_PORT = 9516
MAX_REQUEST_HEAD = 8192
"""Bytes of request line and headers the server reads before giving up."""
REQUEST_TIMEOUT = 10.0


class Kind(StrEnum):
    """The metric types used here (``# TYPE`` line)."""

    COUNTER = "counter"
    GAUGE = "gauge"


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric family. Counters are exposed as ``mip6d_<name>_total``, gauges as
    ``mip6d_<name>``. ``source`` is the key of a gauge in the daemon's status (the
    name if not given)."""

    name: str
    kind: Kind
    help: str
    label: str | None = None
    source: str | None = None

    @property
    def exposed(self) -> str:
        suffix = "_total" if self.kind is Kind.COUNTER else ""
        return f"{PREFIX}{self.name}{suffix}"


_C, _G = Kind.COUNTER, Kind.GAUGE

METRICS: tuple[Metric, ...] = (
    # Home agent.
    Metric("binding_updates_received", _C,
           "Binding Updates the home agent decided on, by the status of its Binding "
           "Acknowledgement (also when the A flag asked for none; a first registration "
           "once duplicate address detection is over), or dropped (IPsec required and "
           "missing), or ignored (duplicate address detection in progress), or superseded (a "
           "newer one took its place while duplicate address detection ran).", "status"),
    Metric("handovers", _C,
           "Registrations from a new care-of address: bindings the home agent moved, or "
           "Binding Acknowledgements that confirmed a mobile node's new care-of address."),
    Metric("bindings_expired", _C, "Bindings that lapsed without a refresh."),
    Metric("duplicate_address_detections", _C,
           "Duplicate address detection runs for first registrations, by result (unique, "
           "duplicate, or error when it could not run and the address was taken as "
           "unique).", "result"),
    Metric("bindings", _G, "Bindings in the binding cache."),
    Metric("mobile_router_bindings", _G,
           "Bindings of mobile routers (R flag) in the binding cache."),
    Metric("tunnels", _G, "ip6ip6 tunnel devices that carry bindings."),
    Metric("bid_bindings", _G,
           "Bindings registered with a Binding Identifier (RFC 5648): one per care-of "
           "address of a node that registered several."),
    Metric("flow_bindings", _G, "Flow bindings (RFC 6089) of the nodes with bindings."),
    # Mobile node.
    Metric("binding_acks_received", _C,
           "Binding Acknowledgements received by the mobile node, by status.", "status"),
    Metric("bul_entries", _G, "Binding Update List entries of the mobile node, by state.",
           "state"),
    # Both.
    Metric("messages_sent", _C, "Mobility Header messages sent, by message.", "message"),
    Metric("messages_received", _C,
           "Mobility Header messages received and decoded, by message.", "message"),
    Metric("icmp_messages_sent", _C,
           "ICMPv6 messages of Mobile IPv6 sent (DHAAD Requests and Replies), by message.",
           "message"),
    Metric("icmp_messages_received", _C,
           "ICMPv6 messages of Mobile IPv6 received and decoded (DHAAD Requests and "
           "Replies), by message.", "message"),
    Metric("messages_ignored", _C,
           "Mobility Header messages received that this node's role does not handle, by "
           "message.", "message"),
    Metric("message_send_failures", _C,
           "Mobility Header messages the kernel refused to send, by message.", "message"),
    Metric("receive_failures", _C, "Reads of the Mobility Header socket that failed."),
    Metric("malformed_packets_dropped", _C,
           "Packets dropped because they could not be decoded, by packet (mh: Mobility "
           "Header, ra: Router Advertisement, nd: Neighbor Solicitation or Advertisement "
           "during duplicate address detection).", "packet"),
    Metric("kernel_changes", _C,
           "Kernel changes made (netlink, ip xfrm, sysctl), by operation.", "operation"),
    Metric("kernel_failures", _C,
           "Kernel changes that failed, by operation.", "operation"),
    Metric("handler_failures", _C,
           "Inputs whose handling raised an unexpected error (see the log), by input.",
           "input"),
    Metric("reloads", _C, "Configuration reloads, by result (ok or failed).", "result"),
    Metric("state_saves", _C, "Writes of the state file, by result (ok or failed).", "result"),
    Metric("start_time_seconds", _G, "When the daemon started, seconds since the epoch.",
           source="started_at"),
)
"""Every metric the daemon exposes, in exposition order."""

_BY_KEY: dict[tuple[Kind, str], Metric] = {(m.kind, m.name): m for m in METRICS}
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_:]")
_GENERIC_LABEL = "kind"


def sample_key(name: str, label_value: str | None = None) -> str:
    """The key of one sample: ``name`` or ``name/label_value``."""
    return name if label_value is None else f"{name}/{label_value}"


_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def label_value(name: str) -> str:
    """A label value from a Python name: ``BindingAck`` and ``BINDING_ACK`` both give
    ``binding-ack`` (message and effect types, status names)."""
    return _WORD_START.sub("-", name).replace("_", "-").lower()


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _family(kind: Kind, name: str) -> Metric:
    clean = _NAME_BAD.sub("_", name) or "_"
    known = _BY_KEY.get((kind, clean))
    if known is not None:
        return known
    return Metric(clean, kind, f"mip6d {kind} {clean} (no description)")


def render(counters: Mapping[str, object], gauges: Mapping[str, object]) -> str:
    """The exposition text of ``counters`` and ``gauges`` (sample keys to numbers):
    known metrics in :data:`METRICS` order, then unknown ones by name; in a family the
    unlabelled sample first, then by label value. Keys that come out the same (after
    replacing characters a metric name cannot hold) give one sample, the first."""
    families: dict[str, tuple[Metric, dict[str | None, str]]] = {}
    for kind, samples in ((Kind.COUNTER, counters), (Kind.GAUGE, gauges)):
        for key, value in samples.items():
            number = _number(value)
            if number is None:
                continue
            name, slash, value_of_label = str(key).partition("/")
            metric = _family(kind, name)
            _, values = families.setdefault(metric.exposed, (metric, {}))
            values.setdefault(value_of_label if slash else None, number)
    order = {m: i for i, m in enumerate(METRICS)}
    lines: list[str] = []
    for exposed in sorted(families, key=lambda e: (order.get(families[e][0], len(order)), e)):
        metric, values = families[exposed]
        lines.append(f"# HELP {exposed} {_escape_help(metric.help)}")
        lines.append(f"# TYPE {exposed} {metric.kind}")
        label = metric.label or _GENERIC_LABEL
        for shown in sorted(values, key=lambda v: (v is not None, v or "")):
            labels = "" if shown is None else f'{{{label}="{_escape_label(shown)}"}}'
            lines.append(f"{exposed}{labels} {values[shown]}")
    return "".join(f"{line}\n" for line in lines)


def gauges_from_status(status: Mapping[str, Any]) -> dict[str, object]:
    """The gauge samples in a daemon's status: for each gauge of :data:`METRICS`, the
    number under its source key, or one sample per entry of a mapping there."""
    out: dict[str, object] = {}
    for metric in METRICS:
        if metric.kind is not Kind.GAUGE:
            continue
        value = status.get(metric.source or metric.name)
        if isinstance(value, Mapping):
            for label_value, number in value.items():
                out[sample_key(metric.name, str(label_value))] = number
        elif value is not None:
            out[metric.name] = value
    return out


def scrape(daemon: Daemon) -> str:
    """The exposition text of ``daemon`` now."""
    return render(daemon.counters(), gauges_from_status(daemon.status()))


# -- HTTP ----------------------------------------------------------------------------------

_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    500: "Internal Server Error",
}


def _response(status: int, body: str, content_type: str = "text/plain; charset=utf-8",
              extra: tuple[tuple[str, str], ...] = (), head: bool = False) -> bytes:
    payload = body.encode()
    headers = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in extra),
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + (b"" if head else payload)


def handle_http(request_head: bytes, daemon: Daemon) -> bytes:
    """The whole HTTP response to a request (its request line and headers): the
    metrics for ``GET /metrics`` (and ``HEAD``), 404 for any other path, 405 for other
    methods, 400 for what is not HTTP, 500 if the daemon fails."""
    try:
        line = request_head.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("ascii")
        method, target, version = line.split(" ")
    except (UnicodeDecodeError, ValueError):
        return _response(400, "bad request\n")
    if not version.startswith("HTTP/"):
        return _response(400, "bad request\n")
    path = target.split("?", 1)[0]
    if path != "/metrics":
        return _response(404, "not found; the metrics are at /metrics\n")
    if method not in ("GET", "HEAD"):
        return _response(405, "method not allowed\n", extra=(("Allow", "GET, HEAD"),))
    try:
        body = scrape(daemon)
    except Exception:
        log_exception(_log, "metrics-scrape-failed")
        return _response(500, "internal error; see the daemon's log\n")
    return _response(200, body, CONTENT_TYPE, head=method == "HEAD")


async def _serve_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, daemon: Daemon
) -> None:
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            head = exc.partial  # the client closed before the blank line
        if head:
            writer.write(handle_http(head, daemon))
        await writer.drain()
    except asyncio.LimitOverrunError:
        writer.write(_response(400, "request head too large\n"))
        with contextlib.suppress(Exception):
            await writer.drain()
    except (TimeoutError, ConnectionError, OSError):
        pass
    except Exception:  # never let a client take the server down
        log_exception(_log, "metrics-client-failed")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve_metrics(host: str, port: int, daemon: Daemon) -> asyncio.AbstractServer:
    """Serve ``daemon``'s metrics over HTTP on ``host``:``port`` (``MetricsListen``;
    ``str(listen.host), listen.port`` of the configuration's
    :class:`~mip6d.config.model.ListenAddress`). Port 0 picks a free port."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_client(reader, writer, daemon)

    server = await asyncio.start_server(client, host, port, limit=MAX_REQUEST_HEAD)
    for sock in server.sockets:
        address = sock.getsockname()
        log_event(_log, logging.INFO, "metrics-listening", host=address[0], port=address[1])
    return server
