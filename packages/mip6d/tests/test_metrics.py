"""Prometheus text exposition and the metrics HTTP endpoint."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mip6d import metrics
from mip6d.metrics import Kind, render

from testkit.mip6d_fakes import FakeDaemon

pytestmark = pytest.mark.unit

HOME_AGENT_TEXT = """\
# HELP mip6d_binding_updates_received_total Binding Updates the home agent decided on, by \
the status of its Binding Acknowledgement (also when the A flag asked for none; a first \
registration once duplicate address detection is over), or dropped (IPsec required and \
missing), or ignored (duplicate address detection in progress), or superseded (a newer \
one took its place while duplicate address detection ran).
# TYPE mip6d_binding_updates_received_total counter
mip6d_binding_updates_received_total{status="accepted"} 1027
mip6d_binding_updates_received_total{status="administratively-prohibited"} 3
# HELP mip6d_bindings_expired_total Bindings that lapsed without a refresh.
# TYPE mip6d_bindings_expired_total counter
mip6d_bindings_expired_total 12
# HELP mip6d_bindings Bindings in the binding cache.
# TYPE mip6d_bindings gauge
mip6d_bindings 1012
# HELP mip6d_tunnels ip6ip6 tunnel devices that carry bindings.
# TYPE mip6d_tunnels gauge
mip6d_tunnels 990
# HELP mip6d_malformed_packets_dropped_total Packets dropped because they could not be \
decoded, by packet (mh: Mobility Header, ra: Router Advertisement, nd: Neighbor \
Solicitation or Advertisement during duplicate address detection).
# TYPE mip6d_malformed_packets_dropped_total counter
mip6d_malformed_packets_dropped_total{packet="mh"} 4
mip6d_malformed_packets_dropped_total{packet="nd"} 0
# HELP mip6d_start_time_seconds When the daemon started, seconds since the epoch.
# TYPE mip6d_start_time_seconds gauge
mip6d_start_time_seconds 1700000000.25
"""

HA_COUNTERS = {
    "malformed_packets_dropped/mh": 4,
    "binding_updates_received/administratively-prohibited": 3,
    "bindings_expired": 12,
    "binding_updates_received/accepted": 1027,
    "malformed_packets_dropped/nd": 0,
}
HA_STATUS = {
    "version": "0.1.0", "role": "HA", "pid": 42, "started_at": 1700000000.25,
    "bindings": 1012, "tunnels": 990,
}


def fake(fail: bool = False) -> FakeDaemon:
    return FakeDaemon(status_result=HA_STATUS, counter_values=HA_COUNTERS,
                      fail_with=RuntimeError("status broke") if fail else None)


# -- render --------------------------------------------------------------------------------


def test_render_home_agent_exact() -> None:
    assert render(HA_COUNTERS, metrics.gauges_from_status(HA_STATUS)) == HOME_AGENT_TEXT


def test_scrape_is_render_of_the_daemon() -> None:
    assert metrics.scrape(fake()) == HOME_AGENT_TEXT


def test_render_nothing() -> None:
    assert render({}, {}) == ""


def test_mobile_node_gauges_by_state() -> None:
    status = {"bul_entries": {"registered": 1, "failed": 0}}
    assert render({"messages_sent/binding-update": 3}, metrics.gauges_from_status(status)) == (
        "# HELP mip6d_bul_entries Binding Update List entries of the mobile node, by state.\n"
        "# TYPE mip6d_bul_entries gauge\n"
        'mip6d_bul_entries{state="failed"} 0\n'
        'mip6d_bul_entries{state="registered"} 1\n'
        "# HELP mip6d_messages_sent_total Mobility Header messages sent, by message.\n"
        "# TYPE mip6d_messages_sent_total counter\n"
        'mip6d_messages_sent_total{message="binding-update"} 3\n'
    )


def test_label_values_are_escaped() -> None:
    text = render({'kernel_failures/a\\b"c\nd': 1}, {})
    assert text.splitlines()[-1] == 'mip6d_kernel_failures_total{operation="a\\\\b\\"c\\nd"} 1'


def test_help_text_is_escaped() -> None:
    assert metrics._escape_help("a\\b\nc") == "a\\\\b\\nc"


def test_unknown_metrics_are_kept_after_the_known_ones() -> None:
    assert render({"zeta-odd.name": 2, "bindings_expired": 1}, {"alpha": 0.5}) == (
        "# HELP mip6d_bindings_expired_total Bindings that lapsed without a refresh.\n"
        "# TYPE mip6d_bindings_expired_total counter\n"
        "mip6d_bindings_expired_total 1\n"
        "# HELP mip6d_alpha mip6d gauge alpha (no description)\n"
        "# TYPE mip6d_alpha gauge\n"
        "mip6d_alpha 0.5\n"
        "# HELP mip6d_zeta_odd_name_total mip6d counter zeta_odd_name (no description)\n"
        "# TYPE mip6d_zeta_odd_name_total counter\n"
        "mip6d_zeta_odd_name_total 2\n"
    )


def test_keys_that_clean_up_alike_give_one_sample() -> None:
    assert render({"bindings-expired": 1, "bindings.expired": 2}, {"handovers_total": 3}) == (
        "# HELP mip6d_bindings_expired_total Bindings that lapsed without a refresh.\n"
        "# TYPE mip6d_bindings_expired_total counter\n"
        "mip6d_bindings_expired_total 1\n"
        "# HELP mip6d_handovers_total mip6d gauge handovers_total (no description)\n"
        "# TYPE mip6d_handovers_total gauge\n"
        "mip6d_handovers_total 3\n"
    )


def test_a_label_value_on_an_unlabelled_metric_uses_a_generic_label() -> None:
    lines = render({"handovers": 5, "handovers/x": 1}, {}).splitlines()
    assert lines[2:] == ["mip6d_handovers_total 5", 'mip6d_handovers_total{kind="x"} 1']


@pytest.mark.parametrize(
    ("value", "shown"),
    [(7, "7"), (2.0, "2"), (1.5, "1.5"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"),
     (float("nan"), "NaN"), (-3, "-3")],
)
def test_values(value: float, shown: str) -> None:
    assert render({}, {"bindings": value}).splitlines()[-1] == f"mip6d_bindings {shown}"


@pytest.mark.parametrize("value", [True, None, "12", [1]])
def test_values_that_are_not_numbers_are_left_out(value: object) -> None:
    assert render({"bindings_expired": value}, {}) == ""


def test_metrics_table_is_well_formed() -> None:
    names = [(m.kind, m.name) for m in metrics.METRICS]
    assert len(names) == len(set(names))
    for m in metrics.METRICS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", m.name)
        assert not m.name.endswith("_total")
        assert m.label is None or re.fullmatch(r"[a-z][a-z0-9_]*", m.label)
        assert m.source is None or m.kind is Kind.GAUGE
        assert m.help.endswith(".")


def test_gauges_from_status_ignore_what_they_do_not_know() -> None:
    assert metrics.gauges_from_status({"role": "HA", "pid": 1, "bindings": 2}) == {"bindings": 2}


SAMPLE = re.compile(
    r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^"\\\n])*"\})? '
    r"(-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?|[+-]Inf|NaN)"
)
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
numbers = st.one_of(st.integers(-(2**63), 2**63), st.floats(allow_nan=True))


@given(counters=st.dictionaries(keys, numbers, max_size=8),
       gauges=st.dictionaries(keys, numbers, max_size=8))
def test_any_samples_give_valid_exposition(
    counters: dict[str, float], gauges: dict[str, float]
) -> None:
    text = render(counters, gauges)
    seen_help: list[str] = []
    current = None
    for line in text.split("\n")[:-1]:  # the format's lines end with \n only
        if line.startswith("# HELP "):
            current = line.split(" ")[2]
            assert current not in seen_help, "a family appears twice"
            seen_help.append(current)
        elif line.startswith("# TYPE "):
            assert line.split(" ")[2:] in ([current, "counter"], [current, "gauge"])
        else:
            assert SAMPLE.fullmatch(line), line
            assert line.split("{")[0].split(" ")[0] == current
    assert text == "" or text.endswith("\n")


# -- HTTP ----------------------------------------------------------------------------------


def test_get_metrics() -> None:
    response = metrics.handle_http(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", fake())
    body = HOME_AGENT_TEXT.encode()
    assert response == (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close\r\n\r\n" + body
    )


def test_query_strings_are_ignored() -> None:
    response = metrics.handle_http(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n", fake())
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")


def test_head_has_no_body() -> None:
    response = metrics.handle_http(b"HEAD /metrics HTTP/1.1\r\n\r\n", fake())
    assert response.endswith(b"Connection: close\r\n\r\n")
    assert f"Content-Length: {len(HOME_AGENT_TEXT)}\r\n".encode() in response


@pytest.mark.parametrize(
    ("request_head", "status_line"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 Not Found"),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 Not Found"),
        (b"POST /metrics HTTP/1.1\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed"),
        (b"hello\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"GET /metrics SPDY/3\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"", b"HTTP/1.1 400 Bad Request"),
    ],
)
def test_other_requests(request_head: bytes, status_line: bytes) -> None:
    response = metrics.handle_http(request_head, fake())
    assert response.split(b"\r\n", 1)[0] == status_line
    assert b"Connection: close\r\n" in response


def test_405_says_what_is_allowed() -> None:
    response = metrics.handle_http(b"DELETE /metrics HTTP/1.1\r\n\r\n", fake())
    assert b"\r\nAllow: GET, HEAD\r\n" in response


def test_a_failing_daemon_gives_500_and_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mip6d")
    response = metrics.handle_http(b"GET /metrics HTTP/1.1\r\n\r\n", fake(fail=True))
    assert response.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "metrics-scrape-failed"]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "status broke"


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return response


def test_http_server_on_a_real_socket() -> None:
    async def scenario() -> None:
        server = await metrics.serve_metrics("127.0.0.1", 0, fake())
        port = server.sockets[0].getsockname()[1]
        try:
            response = await _exchange(port, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            head, body = response.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert body.decode() == HOME_AGENT_TEXT
            # A client that goes away at once, one that sends a huge head, garbage:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            huge = await _exchange(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
            assert huge.startswith(b"HTTP/1.1 400 Bad Request\r\n")
            garbage = await _exchange(port, b"\x00\x01\x02\r\n\r\n")
            assert garbage.startswith(b"HTTP/1.1 400 Bad Request\r\n")
            # The server still answers.
            again = await _exchange(port, b"GET /nothing HTTP/1.1\r\n\r\n")
            assert again.startswith(b"HTTP/1.1 404 Not Found\r\n")
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


@pytest.mark.parametrize(("name", "value"), [
    ("BindingAck", "binding-ack"), ("ADMINISTRATIVELY_PROHIBITED", "administratively-prohibited"),
    ("AddXfrmState", "add-xfrm-state"), ("DROPPED", "dropped"),
])
def test_label_values_from_python_names(name: str, value: str) -> None:
    assert metrics.label_value(name) == value
