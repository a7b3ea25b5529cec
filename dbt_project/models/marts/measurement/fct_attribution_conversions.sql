{#- The conversions that attribution (measurement/attribution_credits) shares out: every shop
    order of a known profile that was not cancelled or refunded. -#}
with

orders as (

    select * from {{ ref('int_orders_resolved') }}

),

final as (

    select
        order_id as conversion_id,
        profile_id,
        cast(ordered_at as {{ dbt.type_timestamp() }}) as converted_at,
        amount as revenue
    from orders
    where profile_id is not null
      and ordered_at is not null
      and coalesce(status, '') not in ('cancelled', 'refunded')

)

select * from final
