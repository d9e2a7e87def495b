"""The shipped Prometheus alert rules are valid and fire as their unit tests say
(``promtool check rules`` and ``promtool test rules``)."""

from __future__ import annotations

from tests.monitor.promtool import RULES, run


def test_alert_rules_are_valid() -> None:
    result = run("check", "rules", RULES.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 15 rules found" in result.stdout


def test_alert_rules_fire_on_their_unit_tests() -> None:
    result = run("test", "rules", "kaskad-alerts.test.yml", cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_of_the_rules_has_a_unit_test() -> None:
    import yaml

    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    alerts = {r["alert"] for r in rules if "alert" in r}
    tests = yaml.safe_load((RULES.parent / "kaskad-alerts.test.yml").read_text())
    firing = {
        t["alertname"]
        for group in tests["tests"]
        for t in group["alert_rule_test"]
        if t["exp_alerts"]
    }
    assert alerts == firing
