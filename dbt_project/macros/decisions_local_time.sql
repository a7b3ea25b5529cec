{#
  tessera_local_minute_in_zone(ts, zone): minutes after local midnight, in the IANA time zone held
  by the column `zone` (e.g. 'Europe/Paris'), of `ts`, a UTC timestamp without time zone (what
  tessera_as_of() returns). Daylight saving time follows the zone's rules. Null when the zone is
  null or not a known zone, so the caller can fall back to a configured offset.
#}
{% macro tessera_local_minute_in_zone(ts, zone) -%}
    {{ return(adapter.dispatch('tessera_local_minute_in_zone', 'tessera')(ts, zone)) }}
{%- endmacro %}

{% macro default__tessera_local_minute_in_zone(ts, zone) -%}
    {#- Spark / Databricks: from_utc_timestamp reads a UTC timestamp into the zone's wall clock -#}
    (hour(from_utc_timestamp({{ ts }}, {{ zone }})) * 60 + minute(from_utc_timestamp({{ ts }}, {{ zone }})))
{%- endmacro %}

{% macro duckdb__tessera_local_minute_in_zone(ts, zone) -%}
    case when {{ zone }} in (select name from pg_timezone_names()) then
        extract(hour from timezone({{ zone }}, timezone('UTC', {{ ts }}))) * 60
        + extract(minute from timezone({{ zone }}, timezone('UTC', {{ ts }})))
    end
{%- endmacro %}

{% macro snowflake__tessera_local_minute_in_zone(ts, zone) -%}
    (extract(hour from convert_timezone('UTC', {{ zone }}, {{ ts }})) * 60
     + extract(minute from convert_timezone('UTC', {{ zone }}, {{ ts }})))
{%- endmacro %}

{% macro bigquery__tessera_local_minute_in_zone(ts, zone) -%}
    (extract(hour from datetime(timestamp({{ ts }}), {{ zone }})) * 60
     + extract(minute from datetime(timestamp({{ ts }}), {{ zone }})))
{%- endmacro %}

{% macro postgres__tessera_local_minute_in_zone(ts, zone) -%}
    case when {{ zone }} in (select name from pg_timezone_names) then
        (extract(hour from ({{ ts }} at time zone 'UTC') at time zone {{ zone }}) * 60
         + extract(minute from ({{ ts }} at time zone 'UTC') at time zone {{ zone }}))
    end
{%- endmacro %}

{#
  tessera_has_column(relation, column): whether the relation has the column now (false while
  parsing). Lets a model use an optional profile trait such as `timezone` when it is there.
#}
{% macro tessera_has_column(relation, column) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = load_relation(relation) -%}
    {%- if found is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(found) | map(attribute='name') | map('lower') | list -%}
    {{ return(column | lower in names) }}
{%- endmacro %}
