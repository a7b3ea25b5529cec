with

source as (

    select * from {{ source('raw', 'shop_order_lines') }}

),

renamed as (

    select
        cast(order_line_id as {{ dbt.type_string() }})        as order_line_id,
        cast(order_id as {{ dbt.type_string() }})             as order_id,
        cast(product_id as {{ dbt.type_string() }})           as product_id,
        cast(quantity as {{ dbt.type_int() }})                as quantity,
        cast(unit_price as {{ tessera.type_double() }})            as unit_price,
        cast(quantity as {{ tessera.type_double() }})
            * cast(unit_price as {{ tessera.type_double() }})      as line_amount,
        {{ tessera.safe_timestamp('updated_at') }}            as updated_at

    from source
    where order_line_id is not null

),

final as (

    select * from renamed

)

select * from final
