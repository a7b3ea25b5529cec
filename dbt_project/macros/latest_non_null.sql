{#-
  Survivorship helper: for each key, the first non-null value of every column in `columns`
  under the ordering `order_by` (e.g. "updated_at desc"). Each column is chosen independently,
  so a key gets the most recent non-null email even when its most recent record has no email.
  Portable: row_number() per column, no IGNORE NULLS / max_by.

    relation  a ref(), source() or CTE name
    key       the grouping column
    columns   list of column names, or a dict {output_name: {"column": ..., "order_by": ...}}
              to give a column its own ordering
    order_by  default ordering for every column (must be deterministic: end with a unique column)
-#}
{% macro latest_non_null(relation, key, columns, order_by) -%}
    {%- if columns is mapping -%}
        {%- set specs = columns -%}
    {%- else -%}
        {%- set specs = {} -%}
        {%- for column in columns -%}
            {%- do specs.update({column: {"column": column}}) -%}
        {%- endfor -%}
    {%- endif -%}
    select
        keys.{{ key }}
        {%- for name, spec in specs.items() %},
        {{ name }}_ranked.{{ name }}
        {%- endfor %}
    from (select distinct {{ key }} from {{ relation }}) as keys
    {%- for name, spec in specs.items() %}
    left join (
        select
            {{ key }},
            {{ spec["column"] }} as {{ name }},
            row_number() over (
                partition by {{ key }}
                order by {{ spec.get("order_by", order_by) }}
            ) as value_rank
        from {{ relation }}
        where {{ spec["column"] }} is not null
    ) as {{ name }}_ranked
        on {{ name }}_ranked.{{ key }} = keys.{{ key }}
        and {{ name }}_ranked.value_rank = 1
    {%- endfor %}
{%- endmacro %}
