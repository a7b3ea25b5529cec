with

source as (

    select * from {{ source('raw', 'events__properties__products') }}

),

renamed as (

    select
        _dlt_id                                               as event_product_id,
        _dlt_parent_id                                        as event_dlt_id,
        cast(_dlt_list_idx as {{ dbt.type_int() }})           as product_index,
        {{ tessera.nullif_blank('product_id') }}              as product_id,
        lower(trim(category))                                 as category,
        cast(price as {{ tessera.type_double() }})                 as price,
        cast(quantity as {{ dbt.type_int() }})                as quantity

    from source

),

final as (

    select * from renamed

)

select * from final
