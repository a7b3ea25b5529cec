{#- Completed orders per day (UTC). customers = distinct resolved profiles (orders without a
    profile count by their customer_id). -#}
with

orders as (

    select * from {{ ref('int_orders_resolved') }}
    where status = 'completed'
      and ordered_at is not null

),

daily as (

    select
        cast(ordered_at as date)                                       as order_date,
        count(distinct order_id)                                       as orders,
        count(distinct coalesce(profile_id, {{ dbt.concat(["'customer:'", 'customer_id']) }})) as customers,
        sum(amount)                                                    as revenue
    from orders
    group by cast(ordered_at as date)

),

final as (

    select
        order_date,
        orders,
        customers,
        revenue,
        revenue / nullif(orders, 0) as avg_order_value
    from daily

)

select * from final
