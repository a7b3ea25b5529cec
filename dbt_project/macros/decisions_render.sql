{#
  tessera_render(column): fills the placeholders of an offer template:
  - {first_name}: the profile's first name, or "there" when it is unknown;
  - {recommended_products}: the names of the profile's recommended products, in rank order and
    comma-separated, or "our bestsellers" when there are none (no purchase history in the shop).
#}
{% macro tessera_render(column) -%}
    replace(
        replace({{ column }}, '{first_name}', coalesce(first_name, 'there')),
        '{recommended_products}', coalesce(recommended_products, 'our bestsellers')
    )
{%- endmacro %}
