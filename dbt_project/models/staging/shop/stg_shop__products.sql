with

source as (

    select * from {{ source('raw', 'shop_products') }}

),

renamed as (

    select
        cast(product_id as {{ dbt.type_string() }})           as product_id,
        {{ tessera.nullif_blank('name') }}                    as product_name,
        lower(trim(category))                                 as category,
        cast(price as {{ tessera.type_double() }})                 as price,
        {{ tessera.safe_timestamp('updated_at') }}            as updated_at

    from source
    where product_id is not null

),

final as (

    select * from renamed

)

select * from final
