{#
  tessera_unique_combination: a generic test that fails for every combination of the given
  columns that appears more than once (a stand-in for dbt_utils.unique_combination_of_columns,
  which cannot be installed here).
#}
{% test tessera_unique_combination(model, columns) %}

    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1

{% endtest %}
