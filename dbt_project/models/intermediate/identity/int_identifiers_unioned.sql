{#- Contract 3: one row per (record, identifier), long format. crm_id is the CRM contact id. -#}
with

records as (

    select * from {{ ref('int_identity__records') }}

),

{%- set id_columns = {
    'email': 'email',
    'phone': 'phone',
    'customer_id': 'customer_id',
    'loyalty_id': 'loyalty_id',
    'device_id': 'device_id',
    'crm_id': "case when source = 'crm' then source_record_id end",
} %}

unpivoted as (

    {% for id_type, expression in id_columns.items() %}
    select
        record_id,
        source,
        '{{ id_type }}' as id_type,
        {{ expression }} as id_value
    from records
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select distinct
        record_id,
        source,
        id_type,
        cast(id_value as {{ dbt.type_string() }}) as id_value
    from unpivoted
    where id_value is not null

)

select * from final
