{#-
  The "now" of a run. Reads TESSERA_AS_OF (ISO date or timestamp, e.g. 2026-11-20 or
  2026-11-20T14:03:11Z); when unset, the warehouse's current timestamp. Always returns a
  UTC timestamp without time zone, the type every staged timestamp has.
-#}
{% macro tessera_as_of() -%}
    {%- set raw_value = env_var('TESSERA_AS_OF', '') | trim -%}
    {%- if raw_value == '' -%}
        cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
    {%- else -%}
        {%- set value = raw_value.replace('Z', '+00:00').replace('z', '+00:00') -%}
        {%- set parsed = modules.datetime.datetime.fromisoformat(value) -%}
        {%- if parsed.tzinfo is not none -%}
            {%- set parsed = parsed.astimezone(modules.pytz.utc).replace(tzinfo=none) -%}
        {%- endif -%}
        cast('{{ parsed.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#- The as-of date (UTC). -#}
{% macro tessera_as_of_date() -%}
    cast({{ tessera_as_of() }} as date)
{%- endmacro %}

{#-
  The send cycle of a run: the UTC date of its as-of, as text (YYYY-MM-DD). A message decision is
  one message per profile, channel and cycle (decision_key = profile_id:channel:cycle): rerunning
  the same cycle sends nothing new, the next cycle may send again within the offer caps and the
  fatigue budget.
-#}
{% macro tessera_cycle() -%}
    cast({{ tessera_as_of_date() }} as {{ dbt.type_string() }})
{%- endmacro %}
