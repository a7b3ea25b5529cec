{#
  tessera_bucket(expr, buckets): a deterministic bucket in [0, buckets) from the MD5 of a string.
  It equals Python's int(hashlib.md5(s.encode()).hexdigest()[:15], 16) % buckets, so assignments
  made in the warehouse and in Python (tessera.decide.assignment) always agree.
#}
{% macro tessera_bucket(expr, buckets=10000) -%}
    {{ return(adapter.dispatch('tessera_bucket', 'tessera')(expr, buckets)) }}
{%- endmacro %}

{% macro default__tessera_bucket(expr, buckets) -%}
    mod(cast(conv(substr(md5({{ expr }}), 1, 15), 16, 10) as bigint), {{ buckets }})
{%- endmacro %}

{% macro duckdb__tessera_bucket(expr, buckets) -%}
    (cast(('0x' || substr(md5({{ expr }}), 1, 15)) as bigint) % {{ buckets }})
{%- endmacro %}

{% macro snowflake__tessera_bucket(expr, buckets) -%}
    mod(to_number(substr(md5({{ expr }}), 1, 15), 'XXXXXXXXXXXXXXX'), {{ buckets }})
{%- endmacro %}

{% macro bigquery__tessera_bucket(expr, buckets) -%}
    mod(cast(concat('0x', substr(to_hex(md5({{ expr }})), 1, 15)) as int64), {{ buckets }})
{%- endmacro %}
