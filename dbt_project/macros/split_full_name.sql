{#-
  First or last name from a free-text full name:
    "Last, First"          -> first = text after the comma, last = text before it
    "First Last", "F. Last" -> first = first word, last = everything after the first space
    "Single"               -> first = the word, last = null
  part: 'first' or 'last'.
-#}
{% macro split_full_name(expr, part) -%}
    {%- set full = 'trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    {%- set comma = dbt.position("','", full) -%}
    {%- set space = dbt.position("' '", full) -%}
    {%- if part == 'first' -%}
    case
        when {{ full }} = '' then null
        when {{ comma }} > 0 then nullif(trim({{ dbt.split_part(full, "','", 2) }}), '')
        else nullif(trim({{ dbt.split_part(full, "' '", 1) }}), '')
    end
    {%- elif part == 'last' -%}
    case
        when {{ full }} = '' then null
        when {{ comma }} > 0 then nullif(trim({{ dbt.split_part(full, "','", 1) }}), '')
        when {{ space }} > 0 then nullif(trim({{ dbt.right(full, tessera.length_of(full) ~ ' - ' ~ space) }}), '')
        else null
    end
    {%- else -%}
        {{ exceptions.raise_compiler_error("split_full_name: part must be 'first' or 'last', got " ~ part) }}
    {%- endif -%}
{%- endmacro %}
