from datetime import date
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from schemas.taxonomy import (CountingRule, all_cases, counting_rule_rows, counting_rules,
                              taxonomy)


def test_the_three_contract_rules_exist_and_classify_every_case():
    rules = counting_rules()
    assert {"programme", "evaluation-2021", "evaluation-2022"} <= set(rules)
    for rule in rules.values():
        assert set(rule.cases()) == set(all_cases())
        assert rule.choices, f"{rule.name} must write down the choices it makes"


def test_programme_and_evaluation_2021_differ_only_on_forced_departure_after_detention():
    a = counting_rules()["programme"].cases()
    b = counting_rules()["evaluation-2021"].cases()
    differing = {case for case in a if a[case] != b[case]}
    assert differing == {("immigration_detention", "forced_departure")}
    assert a[("immigration_detention", "forced_departure")] == ("returned", "durable")


def test_evaluation_2022_does_not_count_forced_return_as_durable():
    cases = counting_rules()["evaluation-2022"].cases()
    assert cases[("return_forced", None)][1] == "non_durable"
    assert cases[("repeat_application", None)][1] == "semi_durable"


def test_a_rule_missing_a_case_is_refused(tmp_path):
    raw = yaml.safe_load(open("schemas/rules/programme.rule.yaml", encoding="utf-8"))
    raw["mapping"] = [m for m in raw["mapping"] if m["outcome"] != "deceased"]
    with pytest.raises(ValidationError, match="deceased"):
        CountingRule.model_validate(raw)


def test_a_rule_naming_a_code_outside_the_taxonomy_is_refused():
    raw = yaml.safe_load(open("schemas/rules/programme.rule.yaml", encoding="utf-8"))
    raw["mapping"][0]["line"] = "legalized"
    with pytest.raises(ValidationError):
        CountingRule.model_validate(raw)


def test_flat_rule_rows_follow_the_taxonomy():
    lines = set(taxonomy().codes("reporting_lines"))
    rows = counting_rule_rows()
    assert {r["line"] for r in rows} <= lines
    assert len(rows) == len(counting_rules()) * len(all_cases())


def test_the_taxonomy_page_is_generated_from_the_data():
    from schemas.docs import DOC_PATH, render

    assert DOC_PATH.read_text(encoding="utf-8") == render(), "run `python -m schemas.docs`"


def test_load_yaml_gives_what_the_pure_python_safe_loader_gives_on_every_project_file():
    """schemas.load_yaml (libyaml where built in) reads each of the project's YAML files exactly as
    yaml.safe_load does, and stays safe: a Python object tag is refused, not constructed."""
    from schemas import load_yaml

    paths = sorted(Path("schemas").rglob("*.yaml"))
    assert len(paths) > 10
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), path
    with pytest.raises(yaml.YAMLError):
        load_yaml("!!python/object/apply:os.getcwd []")
    assert load_yaml("a: 2020-11-01\nb: [1, x]") == {"a": date(2020, 11, 1), "b": [1, "x"]}
