{#- Use custom schema names as-is (staging, intermediate, profiles, ...), without the
    default "<target schema>_" prefix. Models without a custom schema go to the target schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
