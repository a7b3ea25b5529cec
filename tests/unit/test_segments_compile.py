"""The segment and offer compiler: validation errors, safe literals, and correct SQL semantics.

The compiled models are rendered with a minimal Jinja environment (ref(), tessera_as_of() and
dbt.dateadd() as DuckDB SQL) and run against small DuckDB tables, so the test checks what the SQL
selects, not just how it looks.
"""

from datetime import datetime, timedelta
from types import SimpleNamespace

import duckdb
import jinja2
import pytest
import yaml

from tessera.compile import compile_all, segment_model_sql
from tessera.compile.sql import literal
from tessera.config import ConfigError, load_offer_catalog, load_segments
from tessera.config.conditions import parse_condition
from tessera.paths import PROJECT_ROOT

AS_OF = datetime(2026, 11, 20, 12, 0, 0)


def render(sql: str) -> str:
    env = jinja2.Environment()
    ctx = {
        "config": lambda **_: "",
        "ref": lambda name: name,
        "tessera_as_of": lambda: f"timestamp '{AS_OF.isoformat(sep=' ')}'",
        "dbt": SimpleNamespace(
            dateadd=lambda part, n, expr: f"({expr} + interval ({n}) {part})",
            concat=lambda parts: " || ".join(parts),
        ),
    }
    return env.from_string(sql).render(**ctx)


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("""create table dim_customer_profiles as select * from (values
        ('p1', 900.0, 4, 120, true),
        ('p2', 100.0, 1, 5, false),
        ('p3', 0.0, 0, null, true),
        ('p4', 650.0, 2, 200, true)
      ) t(profile_id, lifetime_value, order_count, days_since_last_order, is_loyalty_member)""")
    c.execute("create table int_events_resolved (profile_id varchar, event_name varchar, occurred_at timestamp)")
    c.execute("create table int_consent_latest (profile_id varchar, channel varchar, purpose varchar, "
              "status varchar, occurred_at timestamp)")
    rows = [
        ("p2", "Product Added", AS_OF - timedelta(days=2)),
        ("p3", "Product Added", AS_OF - timedelta(days=1)),
        ("p3", "Order Completed", AS_OF - timedelta(hours=5)),
        ("p4", "Product Added", AS_OF - timedelta(days=9)),  # outside the window
        ("p1", "Product Added", AS_OF + timedelta(days=1)),  # after as-of: ignored
    ]
    c.executemany("insert into int_events_resolved values (?, ?, ?)", rows)
    c.executemany("insert into int_consent_latest values (?, ?, ?, ?, ?)", [
        ("p1", "email", "marketing", "opt_in", AS_OF - timedelta(days=3)),
        ("p2", "email", "marketing", "opt_in", AS_OF - timedelta(days=40)),
        ("p3", "email", "marketing", "opt_out", AS_OF - timedelta(days=1)),
    ])
    return c


def members(con, seg_name):
    seg = next(s for s in load_segments() if s.name == seg_name)
    return sorted(r[0] for r in con.execute(render(segment_model_sql(seg))).fetchall())


def test_demo_segments_select_the_right_profiles(con):
    assert members(con, "cart_abandoners_7d") == ["p2"]
    assert members(con, "high_value_at_risk") == ["p1", "p4"]
    assert members(con, "new_subscribers") == ["p1"]
    assert members(con, "lapsed_loyalty") == ["p3", "p4"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"trait": "lifetime_valu", "op": "gte", "value": 1}, "conditions.trait"),
        ({"trait": "lifetime_value", "op": "between", "value": 1}, "conditions.op"),
        ({"trait": "lifetime_value", "op": "gte", "value": "lots"}, "conditions.value"),
        ({"event": "Product Added"}, "conditions.within_days"),
        ({"all": [{"trait": "order_count", "op": "gte", "value": 1}, {"consent": {"channel": "fax"}}]},
         "conditions.all[1].consent.channel"),
        ({"any": []}, "conditions.any"),
    ],
)
def test_bad_conditions_name_the_field(raw, field):
    with pytest.raises(ConfigError) as err:
        parse_condition(raw)
    assert field in str(err.value)


def test_literals_cannot_inject_sql_or_jinja(con):
    nasty = "x'); drop table dim_customer_profiles; --{{ 7*7 }}"
    cond = parse_condition({"trait": "favourite_category", "op": "eq", "value": nasty})
    from tessera.compile.sql import condition_sql

    con.execute("alter table dim_customer_profiles add column favourite_category varchar")
    sql = render(f"select count(*) from dim_customer_profiles p where {condition_sql(cond)}")
    assert con.execute(sql).fetchone()[0] == 0
    assert con.execute("select count(*) from dim_customer_profiles").fetchone()[0] == 4
    assert literal("it's") == "'it''s'"
    assert "{% raw %}" in literal("{{ danger }}")


def test_unknown_segment_reference_in_offers_is_reported(tmp_path):
    (tmp_path / "segments").mkdir()
    offers = yaml.safe_load((PROJECT_ROOT / "config" / "offers.yml").read_text())
    offers["offers"][0]["eligibility"] = {"segment": "no_such_segment"}
    (tmp_path / "offers.yml").write_text(yaml.safe_dump(offers))
    with pytest.raises(ConfigError, match=r"offers\[cart_reminder_10\]\.eligibility: unknown segment"):
        load_offer_catalog(tmp_path)


def test_each_channel_needs_one_default_offer(tmp_path):
    offers = yaml.safe_load((PROJECT_ROOT / "config" / "offers.yml").read_text())
    offers["offers"] = [o for o in offers["offers"] if not o.get("default")]
    (tmp_path / "offers.yml").write_text(yaml.safe_dump(offers))
    with pytest.raises(ConfigError, match="needs exactly one default offer"):
        load_offer_catalog(tmp_path, segment_names={"cart_abandoners_7d", "high_value_at_risk",
                                                    "new_subscribers", "lapsed_loyalty"})


def test_compile_is_idempotent_and_removes_stale_files(tmp_path):
    dbt_dir = tmp_path / "dbt"
    first = compile_all(dbt_dir=dbt_dir)
    assert {p.name for p in first.written} >= {
        "seg_cart_abandoners_7d.sql", "segment_memberships.sql", "int_offer_eligibility.sql", "offers.csv"}
    stale = dbt_dir / "models" / "marts" / "segments" / "generated" / "seg_old.sql"
    stale.write_text("select 1")
    second = compile_all(dbt_dir=dbt_dir)
    assert second.written == []
    assert stale in second.removed and not stale.exists()
