{#- Identifier and name normalization shared by every staging model. -#}

{#- Replace every match of a regular expression. -#}
{% macro regexp_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'tessera')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro postgres__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- Empty or whitespace-only strings become null. -#}
{% macro nullif_blank(expr) -%}
    nullif(trim(cast({{ expr }} as {{ dbt.type_string() }})), '')
{%- endmacro %}

{#-
  Email: trim + lower. Null when blank or not shaped like local@domain.tld
  (exactly one '@', something before it, a dot in the domain, no spaces).
-#}
{% macro normalize_email(expr) -%}
    {#- strip every kind of surrounding white space (spaces, tabs, newlines), then lower-case -#}
    {%- set cleaned = 'lower(' ~ tessera.regexp_replace_all(expr, '^[[:space:]]+|[[:space:]]+$', '') ~ ')' -%}
    case
        when {{ tessera.nullif_blank(expr) }} is null then null
        when {{ cleaned }} like '%@%@%' then null
        when {{ tessera.regexp_replace_all(cleaned, '[[:space:]]', '') }} <> {{ cleaned }} then null
        when {{ cleaned }} like '_%@_%._%' then {{ cleaned }}
        else null
    end
{%- endmacro %}

{#-
  Phone to E.164-ish: keep digits only; 10 digits -> +1 (US); 11 digits starting with 1 -> +;
  other lengths between 8 and 15 digits -> '+' || digits; anything else (too short/long) -> null.
-#}
{% macro normalize_phone(expr) -%}
    {%- set digits = tessera.regexp_replace_all('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')', '[^0-9]', '') -%}
    case
        when {{ length_of(digits) }} = 10 then {{ dbt.concat(["'+1'", digits]) }}
        when {{ length_of(digits) }} = 11 and {{ digits }} like '1%' then {{ dbt.concat(["'+'", digits]) }}
        when {{ length_of(digits) }} between 8 and 15 then {{ dbt.concat(["'+'", digits]) }}
        else null
    end
{%- endmacro %}

{% macro length_of(expr) -%}
    {{ return(adapter.dispatch('length_of', 'tessera')(expr)) }}
{%- endmacro %}

{% macro default__length_of(expr) -%}
    length({{ expr }})
{%- endmacro %}

{% macro sqlserver__length_of(expr) -%}
    len({{ expr }})
{%- endmacro %}

{#- Name: trim, lower, strip punctuation (. , ; : ! ? ( ) / _ * & # @ ~ + = | < > [ ] { } " '); hyphens and letters (incl. accented) stay, collapse spaces. -#}
{% macro normalize_name(expr) -%}
    {{ tessera.nullif_blank(
        tessera.regexp_replace_all(
            tessera.regexp_replace_all('lower(trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')))', "[.,;:!?()/_*&#@~+=|<>\\[\\]{}\"'']", ''),
            ' +', ' ')
    ) }}
{%- endmacro %}

{#- Timestamp parse that yields null instead of failing; result is a UTC timestamp without zone. -#}
{% macro safe_timestamp(expr) -%}
    {{ return(adapter.dispatch('safe_timestamp', 'tessera')(expr)) }}
{%- endmacro %}

{% macro default__safe_timestamp(expr) -%}
    {{ dbt.safe_cast(expr, dbt.type_timestamp()) }}
{%- endmacro %}

{#- DuckDB: go through timestamptz so that ISO strings with an offset are converted to UTC. -#}
{% macro duckdb__safe_timestamp(expr) -%}
    try_cast(try_cast({{ expr }} as timestamptz) as timestamp)
{%- endmacro %}

{#- Date parse for free-text dates (ISO; DuckDB also tries US m/d/Y and d.m.Y). -#}
{% macro safe_date(expr) -%}
    {{ return(adapter.dispatch('safe_date', 'tessera')(expr)) }}
{%- endmacro %}

{% macro default__safe_date(expr) -%}
    {{ dbt.safe_cast(expr, 'date') }}
{%- endmacro %}

{% macro duckdb__safe_date(expr) -%}
    coalesce(
        try_cast(cast({{ expr }} as varchar) as date),
        cast(try_strptime(cast({{ expr }} as varchar), '%m/%d/%Y') as date),
        cast(try_strptime(cast({{ expr }} as varchar), '%d.%m.%Y') as date),
        cast(try_strptime(cast({{ expr }} as varchar), '%Y/%m/%d') as date)
    )
{%- endmacro %}

{#- A 64-bit floating point type name (dbt.type_float() is 32-bit REAL on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'tessera')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{% macro postgres__type_double() -%}
    double precision
{%- endmacro %}
