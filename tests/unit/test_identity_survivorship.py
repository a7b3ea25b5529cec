"""Survivorship settings: validated per trait, with defaults, and written where dbt's golden-record
model reads them. (The SQL that applies each rule is pinned by the dbt unit tests on
int_profile_traits__golden, run by tests/unit/test_dbt_project.py.)"""

import duckdb
import pytest

from tessera.config.errors import ConfigError
from tessera.identity.config import DEFAULT_SURVIVORSHIP, parse_config
from tessera.identity.warehouse import write_survivorship


def test_rules_per_trait_fall_back_to_the_defaults():
    cfg = parse_config({"survivorship": {"source_priority": ["crm", "shop"], "email": "most_frequent",
                                         "city": {"rule": "most_recent"}}})
    rules = cfg.survivorship_rules()
    assert rules["email"] == "most_frequent" and rules["city"] == "most_recent"
    assert rules["first_name"] == DEFAULT_SURVIVORSHIP["first_name"] == "source_priority"
    assert rules["phone"] == "most_recent"
    assert set(rules) == set(DEFAULT_SURVIVORSHIP)
    assert cfg.source_ranks() == {"crm": 1, "shop": 2}
    assert parse_config({}).source_ranks() == {"shop": 1, "crm": 2, "loyalty": 3, "support": 4, "web": 5}


@pytest.mark.parametrize("surv, field", [
    ({"favourite_colour": "most_recent"}, "survivorship.favourite_colour"),
    ({"email": "newest"}, "survivorship.email.rule"),
    ({"source_priority": "shop"}, "survivorship.source_priority"),
    ({"source_priority": ["shop", "crm", "shop"]}, "survivorship.source_priority"),
])
def test_a_wrong_survivorship_setting_names_the_field(surv, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config({"survivorship": surv})


def test_the_rules_are_written_for_the_golden_record_model(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_survivorship(con, parse_config({"survivorship": {"source_priority": ["web", "shop"],
                                                           "first_name": "most_frequent"}}))
    rules = dict(con.execute("select trait, rule from identity.survivorship_rules").fetchall())
    assert rules["first_name"] == "most_frequent" and rules["email"] == "most_recent"
    assert len(rules) == len(DEFAULT_SURVIVORSHIP)
    ranks = con.execute("select source, priority from identity.source_priority order by priority").fetchall()
    assert ranks == [("web", 1), ("shop", 2)]
    # a second run replaces the settings rather than adding to them
    write_survivorship(con, parse_config({}))
    assert con.execute("select count(*) from identity.survivorship_rules where rule = 'most_frequent'").fetchone() == (0,)
    assert con.execute("select source from identity.source_priority where priority = 1").fetchone() == ("shop",)
