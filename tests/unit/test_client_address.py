"""The client's address, as every per-client limit keys it.

- Per-client counters key on the address: IPv4 /32, IPv6 /64 (a host is given a whole /64, so
  counting its addresses one by one would give it 2^64 budgets).
- ``TRUSTED_PROXY=cloudfront``: the viewer's address comes from ``CloudFront-Viewer-Address``,
  only when the request proves it came through CloudFront (the origin header whose value is
  derived from the key set); otherwise, and with the default ``none``, every client-sent header
  is ignored and API Gateway's ``sourceIp`` is the client.
"""

from __future__ import annotations

from typing import Any

import pytest

from phone_auth.callers import ClientInfo, parse_viewer_address
from tests.helpers import Api, FakeClock, SetEnv, send_code

CLOUDFRONT = "130.176.1.10"  # one CloudFront edge address: every viewer's request arrives from it


def error_code(answer: tuple[int, dict[str, Any], dict[str, str]]) -> str:
    return str(answer[1].get("error", {}).get("code", "OK"))


def phones(count: int, prefix: str = "+66891") -> list[str]:
    """Numbers of distinct prefixes (SMS_PER_PREFIX_PER_HOUR counts the number without its last 3 digits)."""
    return [f"{prefix}{index:03d}000" for index in range(count)]


# ------------------------------------------------------------------ the keys
@pytest.mark.parametrize(
    ("address", "key", "network"),
    [
        ("203.0.113.7", "203.0.113.7", "203.0.113.0/24"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7", "203.0.113.0/24"),  # an IPv4 client seen over IPv6
        (None, "unknown", "unknown"),
        ("not an address", "unknown", "unknown"),
    ],
)
def test_a_client_is_keyed_by_its_ipv4_address_or_its_ipv6_64(address: str | None, key: str, network: str) -> None:
    client = ClientInfo(source_ip=address, user_agent="")
    assert (client.address_key, client.network_key) == (key, network)


@pytest.mark.parametrize(
    ("header", "address"),
    [
        ("203.0.113.7:46532", "203.0.113.7"),
        ("2001:db8:1:2::17:46532", "2001:db8:1:2::17"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("203.0.113.7", None),  # no port: not what CloudFront sends
        ("evil.example:80", None),
        ("", None),
        ("203.0.113.7:99999", None),
    ],
)
def test_cloudfronts_viewer_address_is_an_address_and_a_port(header: str, address: str | None) -> None:
    assert parse_viewer_address(header) == address


# ------------------------------------------------------------------ IPv6
def test_one_ipv6_64_shares_one_sms_budget(api: Api, clock: FakeClock) -> None:
    """40 addresses of one /64 are one client: 20 SMS an hour (SMS_PER_IP_PER_HOUR), then refused."""
    answers = [
        send_code(api, phone, source_ip=f"2001:db8:4:7::{index + 1:x}") for index, phone in enumerate(phones(40))
    ]
    assert [error_code(answer) for answer in answers].count("OK") == 20
    assert answers[-1][1]["error"]["details"]["limit"] == "sms_per_ip_per_hour"
    assert send_code(api, "+66899999999", source_ip="2001:db8:4:8::1")[0] == 200  # the next /64 is another client


# ------------------------------------------------------------------ behind CloudFront
def origin_header() -> dict[str, str]:
    from phone_auth.callers import ORIGIN_VERIFY_HEADER, origin_verify_value

    return {ORIGIN_VERIFY_HEADER: origin_verify_value()}


def through_cloudfront(api: Api, phone: str, viewer: str, headers: dict[str, str]) -> str:
    viewer_headers = {"CloudFront-Viewer-Address": viewer, **headers}
    return error_code(send_code(api, phone, source_ip=CLOUDFRONT, headers=viewer_headers))


def test_behind_cloudfront_each_viewer_has_its_own_budget(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(TRUSTED_PROXY="cloudfront")
    verified = origin_header()
    answers = [
        through_cloudfront(api, phone, f"198.51.100.{index + 1}:5{index:04d}", verified)
        for index, phone in enumerate(phones(30))
    ]
    assert answers == ["OK"] * 30  # 30 viewers, one CloudFront address: each counts for itself
    one_viewer = [through_cloudfront(api, phone, "198.51.100.200:40000", verified) for phone in phones(21, "+66892")]
    assert one_viewer == ["OK"] * 20 + ["RATE_LIMITED"]
    ipv6 = [
        through_cloudfront(api, phone, f"2001:db8:9::{i + 1:x}:443", verified)
        for i, phone in enumerate(phones(21, "+66893"))
    ]
    assert ipv6 == ["OK"] * 20 + ["RATE_LIMITED"]  # a viewer's /64 is one client, as without CloudFront


@pytest.mark.parametrize("proof", ["none", "wrong", "right but proxy none"])
def test_a_viewer_address_without_proof_is_ignored(api: Api, clock: FakeClock, env: SetEnv, proof: str) -> None:
    """Anyone can call the API stage directly and send the header: without the origin header's
    value (or with TRUSTED_PROXY=none) the client is API Gateway's sourceIp, as always."""
    from phone_auth.callers import ORIGIN_VERIFY_HEADER

    env(TRUSTED_PROXY="none" if proof == "right but proxy none" else "cloudfront")
    headers = {
        "none": {},
        "wrong": {ORIGIN_VERIFY_HEADER: "0" * 64},
        "right but proxy none": origin_header(),
    }[proof]
    answers = [
        through_cloudfront(api, phone, f"198.51.100.{index + 1}:443", headers) for index, phone in enumerate(phones(21))
    ]
    assert answers == ["OK"] * 20 + ["RATE_LIMITED"]  # one client: the address the request came from


def test_the_origin_header_value_follows_the_key_set(env: SetEnv) -> None:
    """Derived from the key set (so it needs no secret of its own) and accepted under every live
    key, so a rotation leaves time to update CloudFront before the old key is retired."""
    from phone_auth.callers import origin_verify_value, origin_verify_values

    env(TRUSTED_PROXY="cloudfront")
    value = origin_verify_value()
    assert len(value) == 64 and value in origin_verify_values()
