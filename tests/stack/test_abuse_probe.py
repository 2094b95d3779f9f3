"""The attacker's budget, measured over HTTP against a local stack with the default limits
(devtools/abuse_probe.py): what docs/security.md quotes."""

from __future__ import annotations

from devtools import abuse_probe


def test_the_default_limits_hold_an_attacker_with_any_number_of_ips_to_these_figures() -> None:
    figures = abuse_probe.measure()

    day = figures["guesses_per_phone_per_day"]
    # 10 wrong codes lock the phone for 15 min; each further one doubles the lock (30 min, 1 h,
    # 2 h, 4 h, 8 h, 16 h): 16 fit in a day. At most 10 codes a day reach the phone.
    assert day == {"wrong_codes_checked": 16, "codes_sent": 10}
    assert figures["sms_per_ip_per_hour"] == 20  # SMS_PER_IP_PER_HOUR
    assert figures["numbers_per_prefix_per_hour"] == 20  # SMS_PER_PREFIX_PER_HOUR
    # 5 wrong passwords lock for 1 min; then 2, 4, 8, 16, 32 min: the 10th ends past the hour.
    assert figures["password_guesses_per_phone_per_hour"] == {"wrong_passwords_checked": 10}
