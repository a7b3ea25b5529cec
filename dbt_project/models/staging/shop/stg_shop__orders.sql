with

source as (

    select * from {{ source('raw', 'shop_orders') }}

),

renamed as (

    select
        cast(order_id as {{ dbt.type_string() }})             as order_id,
        {{ tessera.nullif_blank('customer_id') }}             as customer_id,
        {{ tessera.safe_timestamp('ordered_at') }}            as ordered_at,
        lower(trim(status))                                   as status,
        upper(trim(currency))                                 as currency,
        cast(total_amount as {{ tessera.type_double() }})          as amount,
        lower(trim(channel))                                  as channel,
        {{ tessera.safe_timestamp('updated_at') }}            as updated_at

    from source
    where order_id is not null

),

final as (

    select * from renamed

)

select * from final
