{#
  tessera_render(column): fills the {first_name} placeholder of an offer template with the
  profile's first name, or "there" when it is unknown.
#}
{% macro tessera_render(column) -%}
    replace({{ column }}, '{first_name}', coalesce(first_name, 'there'))
{%- endmacro %}
